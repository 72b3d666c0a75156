"""Where ``dhag-pipeline label`` looks for the alert it labels: the newest records of the topics first.

An alert id carries no time, and the events of an alert lie in the partition of its asset, which the
id does not name either. But an operator labels an alert they have just been shown, most often one
opened minutes or hours ago, near the end of the alerts topic. So ``label`` reads the newest 1,000
records of each partition of the alerts topic, then the newest 16,000, and reads everything the
topics retain (as before, :func:`~pipeline.alertscmd.read_episodes`) only when the alert's open event
is not among those: an older alert, or an id not on the topic. Found, the episode takes every label
written to the labels topic since a margin before its open event was written
(:func:`~pipeline.alertsince.labels_from`, as ``alerts --since`` reads them and as the label store
joins a label written before its alert), read likewise from the end of each partition back to that
time. A look reads back by offsets, not by time, so it costs the same on a broker whose index by time
does not serve (the embedded one finds by when a record was appended), and on a topic where a
plant-wide event wrote thousands of events in minutes. Records without a Kafka time (an old
producer's) cannot be told to be recent: their topics are read whole, as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.alertepisodes import Episode, _written_at, event_time
from pipeline.alertsince import labels_from
from pipeline.alertsread import alert_document, episodes_from
from pipeline.config import Settings
from pipeline.consoletopics import TopicMissingError
from pipeline.recordjson import is_schema_1

__all__ = ["ALERT_LOOKS", "LABEL_LOOKS", "find_alert", "opened_since"]

#: How many of each partition's newest alert events ``label`` reads, one look after the other, before
#: everything the topics retain.
ALERT_LOOKS = (1_000, 16_000)
#: How many of each partition's newest labels it reads, until they reach back to the time it needs.
LABEL_LOOKS = (1_000, 16_000, None)

#: ``read(topic, newest)``: that many of each partition's newest records of ``topic`` (None: all).
Read = Callable[[str, int | None], Iterable[Any]]


def find_alert(
    settings: Settings, alert_id: str, read: Read, everything: Callable[[], dict[str, Episode]]
) -> dict[str, Episode]:
    """The episodes ``label`` knows, among them ``alert_id``'s with every label the label store would
    join to it when its open event is among the newest alert events of a look, else ``everything()``
    (each episode the topics retain, or none of that id: ``label`` refuses it)."""
    topics = settings.kafka.topics
    for newest in ALERT_LOOKS:
        alerts = list(read(topics.alerts, newest))
        since = opened_since(alert_id, alerts)
        if since is not None:
            labels = _labels_since(read, topics.labels, labels_from(since, settings))
            episodes = (
                {}
                if labels is None
                else episodes_from(settings, alerts, lambda _, found=labels: found, since)
            )
            if alert_id in episodes:
                return episodes
        if since is not None or len(alerts) < newest:  # all it holds was read, or no time to read back to
            break
    return everything()


def opened_since(alert_id: str, records: Iterable[Any]) -> float | None:
    """When ``alert_id``'s episode is known from, among the alert ``records``: the earlier of when its
    latest open event was written to Kafka and the time it opened (a reading may be dated a little
    ahead of Kafka's clock); None when no open event of it is there, or it carries no Kafka time.

    >>> import orjson
    >>> from types import SimpleNamespace as R
    >>> event = {"schema": 1, "alert_id": "a1", "state": "open", "opened_at": 100.0}
    >>> opened_since("a1", [R(value=orjson.dumps(event), timestamp=99_000)])
    99.0
    >>> opened_since("a1", [R(value=orjson.dumps(event), timestamp=-1)]), opened_since("a2", [])
    (None, None)
    """
    since = None
    for record in records:
        try:
            event = alert_document(record.value)
            if not is_schema_1(event) or event.get("alert_id") != alert_id or event.get("state") != "open":
                continue
            opened, written = event_time(event["opened_at"], "opened_at"), _written_at(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # as the episodes are built: not an alert event
        if math.isinf(written):
            return None
        since = min(written, opened)
    return since


def _labels_since(read: Read, topic: str, bound: float) -> list[Any] | None:
    """The labels written to ``topic`` at or after ``bound``, read back from the end of each partition
    until they reach it; None when one carries no Kafka time."""
    for newest in LABEL_LOOKS:
        try:
            records = list(read(topic, newest))
        except TopicMissingError:
            return []  # no label yet: the retrainer, or the first `label`, creates the topic
        if any(math.isinf(_written_at(record)) for record in records):
            return None
        if newest is None or _reach(records, newest, bound):
            break
    return [record for record in records if _written_at(record) >= bound]


def _reach(records: list[Any], newest: int, bound: float) -> bool:
    """Whether the newest ``records`` of each partition reach back to ``bound``: each partition read
    whole (fewer records than asked for), or its earliest record read written before ``bound``."""
    earliest: dict[int, Any] = {}
    counts: dict[int, int] = {}
    for record in records:
        part = record.partition
        counts[part] = counts.get(part, 0) + 1
        if part not in earliest or record.offset < earliest[part].offset:
            earliest[part] = record
    return all(counts[p] < newest or _written_at(earliest[p]) < bound for p in earliest)
