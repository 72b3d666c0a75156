"""The label that counts for each alert (or reading) of the label store, all read at once.

Each is the last of its alert's labels in :func:`~pipeline.labelorder.in_label_order`, repeats left
out. A run's start reads them on the retrainer's loop thread, which answers the liveness probe, and a
store holds every label ever received: so the whole table is ranked in one pass, each label's Kafka
partition taken once from its position, each label's reading decoded only when its label counts.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

__all__ = ["LabelledReading", "latest_labels"]


@dataclass(frozen=True)
class LabelledReading:
    """The label that counts for one alert (or one reading): the reading's values and the verdict."""

    key: str
    alert_id: str | None
    asset_id: str
    ts: float
    values: dict[str, float]
    y: int
    operator: str
    given_at: float
    label_id: int


_LABELS = (
    "SELECT id, alert_id, asset_id, ts, values_json, label, operator, given_at, received_at, source"
    " FROM labels WHERE repeat_of IS NULL"
)
_ID, _ALERT, _ASSET, _TS, _VALUES, _LABEL, _OPERATOR, _GIVEN, _RECEIVED, _SOURCE = range(10)


def latest_labels(db: sqlite3.Connection) -> list[LabelledReading]:
    """The label that counts per alert (or per reading without an alert) of the label store ``db``,
    ordered by reading time.

    As :func:`~pipeline.labelorder.in_label_order` ranks them: in each Kafka partition, by arrival
    (the time received, then the id), a label ranking at the later of its given time and the rank of
    the one before it; the last of an alert's labels by rank, then by topic, partition and arrival,
    counts.
    """
    arrivals: dict[str, list[Any]] = {}  # by Kafka partition: ``topic/partition``
    for row in db.execute(_LABELS):
        # A position is ``topic/partition/offset``, then ``#digest`` (pipeline.labels.Source).
        arrivals.setdefault(row[_SOURCE].partition("#")[0].rpartition("/")[0], []).append(row)
    counting: dict[str, tuple[float, Any]] = {}
    for place in sorted(arrivals, key=_topic_and_partition):  # of two of one rank, the later counts
        floor = -math.inf
        for row in sorted(arrivals[place], key=itemgetter(_RECEIVED, _ID)):
            floor = max(floor, row[_GIVEN])
            alert_id = row[_ALERT]
            key = f"alert:{alert_id}" if alert_id is not None else f"reading:{row[_ASSET]}@{row[_TS]!r}"
            held = counting.get(key)
            if held is None or floor >= held[0]:
                counting[key] = (floor, row)
    chosen = sorted(
        ((row[_TS], row[_ID], key, row) for key, (_, row) in counting.items()), key=itemgetter(0, 1)
    )
    return [
        LabelledReading(
            key,
            row[_ALERT],
            row[_ASSET],
            float(ts),
            _decoded(row[_VALUES]),
            1 if row[_LABEL] == "anomaly" else 0,
            row[_OPERATOR],
            float(row[_GIVEN]),
            int(label_id),
        )
        for ts, label_id, key, row in chosen
    ]


_reading_order = itemgetter(0, 1)  # by reading time, then id


def _topic_and_partition(place: str) -> tuple[str, int]:
    """``(topic, partition)`` of a ``topic/partition``: partitions of a topic rank as numbers."""
    topic, _, partition = place.rpartition("/")
    return topic, int(partition)


def _decoded(values: str) -> dict[str, float]:
    """A reading's values as stored (``json.dumps``); what orjson reads otherwise (a NaN or an
    infinity an alert carried, an integer past 64 bits) as :func:`json.loads` does."""
    try:
        return orjson.loads(values)
    except orjson.JSONDecodeError:
        return json.loads(values)
