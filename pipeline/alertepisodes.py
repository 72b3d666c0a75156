"""An alert episode as ``dhag-pipeline alerts`` and ``label`` read it from the alerts topic, with the
labels given to it, and how those labels are put in the label store's order (:mod:`pipeline.alertscmd`
reads the topics)."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.alertevents import sensor_tag, suspect_tag
from pipeline.labelorder import Answer, in_label_order, repeated
from pipeline.labels import Source

__all__ = ["COLUMNS", "Episode", "when"]

#: The columns of ``dhag-pipeline alerts``' table: an :meth:`Episode.row` each.
COLUMNS = (
    "ALERT_ID",
    "ASSET",
    "STATE",
    "OPENED",
    "SCORE",
    "THRESHOLD",
    "MODEL",
    "TOP SENSORS",
    "SUSPECT",
    "LABEL",
)


def when(ts: float | None) -> str:
    """A time as the consoles show it (UTC), ``-`` for none."""
    return "-" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class Episode:
    """One alert episode as the alerts topic tells it, with the labels given to it, in the label store's
    order (the last counts)."""

    alert_id: str
    asset_id: str
    opened_at: float
    score: float
    model_version: str
    top_sensors: list[str]
    #: The latest record time among its readings (``latest_ts``, else the resolved event's ``ts``),
    #: never before ``opened_at``: where the retrainer's label store ends it.
    resolved_at: float | None = None
    resolved_by: str | None = None  # normal_scores, quiet_time, or silence (no reading came)
    #: Top sensors whose value lay beyond the model's training range when the alert opened, and on
    #: which side (``above`` or ``below``).
    outside_training_range: dict[str, str] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)
    #: The opening record's sensors the daemon imputed, and the top sensors that are (or come from) one.
    imputed: list[str] = field(default_factory=list)
    imputed_top: list[str] = field(default_factory=list)
    #: The event's ``suspect_sensors``: raw sensors that, read differently alone, make the opening reading
    #: most normal, with what they read and the value that did (empty for an event without them).
    suspect_sensors: list[dict[str, Any]] = field(default_factory=list)
    #: The threshold of the model that scored it, which ``score`` was over (None: the event did not say).
    threshold: float | None = None

    @property
    def state(self) -> str:
        """``open`` or ``resolved``."""
        return "open" if self.resolved_at is None else "resolved"

    def sensor_tags(self) -> list[str]:
        """The top sensors as consoles show them (``(below history)`` after one beyond its range)."""
        return [
            sensor_tag(
                {
                    "sensor": name,
                    "outside_training_range": self.outside_training_range.get(name),
                    "imputed": name in self.imputed_top,
                }
            )
            for name in self.top_sensors
        ]

    @property
    def label(self) -> dict[str, Any] | None:
        """The label that counts (the last in the label store's order), or None."""
        return self.labels[-1] if self.labels else None

    def row(self) -> tuple[str, ...]:
        """The episode as ``dhag-pipeline alerts`` lists it, in :data:`COLUMNS`: its opening score
        beside the threshold it was over, and a resolution by silence (no sign of recovery) so named."""
        label = self.label
        return (
            self.alert_id,
            self.asset_id,
            self.state + ("-by-silence" if self.resolved_by == "silence" else ""),
            when(self.opened_at),
            f"{self.score:.3f}",
            "-" if self.threshold is None else f"{self.threshold:.3f}",
            self.model_version,
            ",".join(self.sensor_tags()) or "-",
            suspect_tag(self.suspect_sensors[0]) if self.suspect_sensors else "-",
            f"{label['label']} ({label['operator']})" if label else "-",
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "alert_id": self.alert_id,
            "asset_id": self.asset_id,
            "state": self.state,
            "opened_at": self.opened_at,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
            "score": self.score,
            "threshold": self.threshold,
            "model_version": self.model_version,
            "top_sensors": self.top_sensors,
            "suspect_sensors": self.suspect_sensors,
            "outside_training_range": self.outside_training_range,
            "imputed": self.imputed,
            "label": self.label,
            "labels": self.labels,
        }


def _as_they_came(records: Iterable[Any]) -> list[Any]:
    """Records of several partitions in about the order they were written (each partition's in offset
    order), as the retrainer meets them, rather than one partition after another."""
    partitions: dict[tuple[str, int], list[Any]] = {}
    for record in records:
        partitions.setdefault((record.topic, record.partition), []).append(record)
    return list(heapq.merge(*partitions.values(), key=_written_at))


def _once(labels: list[tuple[Source, float, Answer, dict[str, Any]]]) -> list[dict[str, Any]]:
    """An alert's labels (each with its Kafka position, the time it ranks by and its answer, in the
    order they came) in the label store's order (:func:`~pipeline.labelorder.in_label_order`: the last
    counts), each once: without those that repeat an earlier one, as the retrainer's label store records
    them (:mod:`pipeline.labelorder`)."""
    kept: list[tuple[int, float, int, str, Answer, dict[str, Any]]] = []

    def ranked() -> list[Any]:
        return in_label_order(kept, given=1, received=2, label_id=0, source=3)

    for seq, (place, given, answer, lab) in enumerate(labels):
        counting = ranked()[-1][4] if kept else None
        if repeated(answer, (row[4] for row in kept), counting) is None:
            kept.append((seq, given, place.offset, str(place), answer, lab))
    return [row[5] for row in ranked()]


def _written_at(msg: Any) -> float:
    """When a record was written to Kafka (epoch seconds), ``inf`` when it carries no time."""
    stamp = getattr(msg, "timestamp", None)
    return stamp / 1000 if isinstance(stamp, int) and stamp >= 0 else math.inf


def _number(value: Any) -> float | None:
    """A finite number an event gives, else None."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
