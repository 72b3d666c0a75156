"""An alert episode as ``dhag-pipeline alerts`` and ``label`` read it from the alerts topic, with the
labels given to it, and how those labels are put in the label store's order (:mod:`pipeline.alertscmd`
reads the topics)."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dhag.infotext import shown_name
from pipeline.alertevents import sensor_tag, suspect_tag
from pipeline.alertsfit import middle_clipped
from pipeline.labelorder import Answer, in_label_order, repeated
from pipeline.labels import Source
from pipeline.textwidth import escaped

__all__ = [
    "COLUMNS",
    "Episode",
    "event_time",
    "later_schema_refusal",
    "lost_open_note",
    "other_schema_note",
    "unlabellable_mark",
    "when",
]

#: The most columns an operator's name takes in the table's LABEL cell (``--json`` gives it whole; the
#: labels contract allows 128 characters).
OPERATOR_COLUMNS = 24

#: The columns of ``dhag-pipeline alerts``' table: an :meth:`Episode.row` each.
COLUMNS = (
    "ALERT_ID",
    "ASSET",
    "STATE",
    "OPENED",
    "RESOLVED",
    "SCORE",
    "THRESHOLD",
    "MODEL",
    "TOP SENSORS",
    "SUSPECT",
    "LABEL",
)


def when(ts: float | None) -> str:
    """A time as the consoles show it (UTC), ``-`` for none; one beyond the dates this host's clock can
    show (an event may say any number) as that number.

    >>> when(6.0), when(1e20)
    ('1970-01-01T00:00:06Z', 'epoch 1e+20')
    """
    if ts is None:
        return "-"
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return f"epoch {ts:g}"


def event_time(value: Any, name: str) -> float:
    """A time an alert event gives (epoch seconds): a finite number, as the retrainer takes it
    (:mod:`pipeline.retrain.alertfeed`); :class:`ValueError` for anything else, such as text.

    >>> event_time(5, "ts"), event_time(1e20, "ts")
    (5.0, 1e+20)
    >>> event_time("nan", "opened_at")
    Traceback (most recent call last):
    ...
    ValueError: opened_at must be a finite number, got 'nan'
    """
    if (number := _number(value)) is None:
        raise ValueError(f"{name} must be a finite number, got {value!r:.40}")
    return number


# The resolutions that tell of no recovery, which the state says.
_BY = {"silence": "-by-silence", "not_carried_over": "-not-carried-over"}


@dataclass
class Episode:
    """One alert episode as the alerts topic tells it, with the labels given to it, in the label store's
    order (the last counts)."""

    alert_id: str
    asset_id: str
    opened_at: float
    #: The score that opened it (None: unknown, as its open event is no longer on the topic).
    score: float | None
    #: The model that opened it (None: unknown, as for ``score``, or the event did not say).
    model_version: str | None
    top_sensors: list[str]
    #: The latest record time among its readings (``latest_ts``, else the resolved event's ``ts``),
    #: never before ``opened_at``: where the retrainer's label store ends it.
    resolved_at: float | None = None
    #: normal_scores, quiet_time, silence (no reading came) or not_carried_over (no daemon held it)
    resolved_by: str | None = None
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
    #: Read from its resolved event alone: the topic's retention deleted its open event, and with it the
    #: opening score, the threshold it was over and the model that scored it (the resolved event's score
    #: is the one that ended it, by the model of the moment: one swapped in since, maybe).
    open_lost: bool = False
    #: Why no label of it can count, when the retrainer refuses each of its events read: the field that
    #: breaks the alert contract and how (:func:`~pipeline.retrain.alertfeed.checked_alert_event`). It
    #: keeps no such alert, so a label of it would be dead-lettered.
    unlabellable: tuple[str, str] | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Episode:
        """The episode an alert event tells of. A resolved event's score ended the episode (it is under
        the threshold): an episode known only from it has no opening score, threshold nor model.

        >>> Episode.from_event({"alert_id": "a1", "asset_id": "p1", "state": "resolved", "opened_at": 5,
        ...                     "score": 0.1, "threshold": 0.5}).score
        """
        lost = event.get("state") != "open"
        top = event.get("top_sensors") or []
        return cls(
            str(event["alert_id"]),
            str(event["asset_id"]),
            event_time(event["opened_at"], "opened_at"),
            None if lost else _number(event.get("score")),
            None if lost else _text(event.get("model_version")),
            [str(s.get("sensor")) for s in top],
            outside_training_range={
                str(s.get("sensor")): str(s["outside_training_range"])
                for s in top
                if s.get("outside_training_range")
            },
            imputed=[str(name) for name in _list(event.get("imputed"))],
            imputed_top=[str(s.get("sensor")) for s in top if s.get("imputed")],
            suspect_sensors=[s for s in _list(event.get("suspect_sensors")) if isinstance(s, dict)],
            threshold=None if lost else _number(event.get("threshold")),
            open_lost=lost,
        )

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

    @property
    def disputed_by(self) -> list[str]:
        """The operators whose latest answer differs from the label that counts (in the order they first
        answered): a dispute. One who corrected their own answer, or came round to another's, is not.

        >>> episode = Episode("a1", "p1", 5.0, 0.9, "v1", [])
        >>> episode.labels = [{"label": "anomaly", "operator": "kim"}, {"label": "normal", "operator": "lee"}]
        >>> episode.disputed_by
        ['kim']
        """
        latest = {label["operator"]: label["label"] for label in self.labels}
        counting = self.label
        return [] if counting is None else [who for who, said in latest.items() if said != counting["label"]]

    def row(self) -> tuple[str, ...]:
        r"""The episode as ``dhag-pipeline alerts`` lists it, in :data:`COLUMNS`: when it opened and
        when it resolved (``-`` while open, as ``--json``'s ``resolved_at``), its opening score beside the
        threshold it was over, and a resolution by silence (no sign of recovery) so named. The
        text the alert event gives (its id, asset id and model version, as its sensors' names) is shown by
        :func:`dhag.infotext.shown_name`: any client allowed to write to the alerts topic writes it, and a
        line break or a terminal's escape in it would split the row and act on the operator's terminal.

        >>> print(*Episode("a1", "pump\x1b[2J", 5.0, 0.9, "v1\n", []).row()[1::6])
        'pump\x1b[2J' 'v1\n'
        """
        label = self.label
        refused = self.unlabellable
        return (
            shown_name(self.alert_id),
            shown_name(self.asset_id),
            self.state + _BY.get(self.resolved_by or "", ""),
            when(self.opened_at),
            when(self.resolved_at),
            "-" if self.score is None else f"{self.score:.3f}",
            "-" if self.threshold is None else f"{self.threshold:.3f}",
            "-" if self.model_version is None else shown_name(self.model_version),
            ",".join(self.sensor_tags()) or "-",
            suspect_tag(self.suspect_sensors[0]) if self.suspect_sensors else "-",
            _label_cell(label, self.disputed_by) if refused is None else unlabellable_mark(refused),
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
            "suspect_sensors": _strict(self.suspect_sensors),
            "outside_training_range": self.outside_training_range,
            "imputed": self.imputed,
            "label": self.label,
            "labels": self.labels,
            "disputed_by": self.disputed_by,
            "not_labellable": None if self.unlabellable is None else self.unlabellable[1],
        }


def unlabellable_mark(refused: tuple[str, str]) -> str:
    """How the consoles mark an alert the retrainer keeps no event of (``refused``: the field of the first
    it refuses, and why), in the place of its label.

    >>> unlabellable_mark(("asset_id", "asset_id must be a printable string of 1 to 256 characters, got 42"))
    'not labellable: bad asset_id'
    """
    return f"not labellable: bad {refused[0]}"


def _label_cell(label: dict[str, Any] | None, disputed_by: list[str]) -> str:
    """The LABEL cell: the label that counts and who gave it, then who answered otherwise (the first,
    and how many more).

    >>> _label_cell({"label": "normal", "operator": "lee"}, ["kim", "joe"])
    'normal (lee), disputed by kim +1'
    """
    if label is None:
        return "-"
    cell = f"{label['label']} ({_short(label['operator'])})"
    if disputed_by:
        cell += f", disputed by {_short(disputed_by[0])}" + (
            f" +{len(disputed_by) - 1}" if len(disputed_by) > 1 else ""
        )
    return cell


def _short(operator: str) -> str:
    """An operator's name as the table shows it: one over :data:`OPERATOR_COLUMNS` shortened in its middle."""
    return middle_clipped(operator, OPERATOR_COLUMNS)


def lost_open_note(episodes: Iterable[Episode], topic: str) -> str | None:
    """What ``alerts`` says on stderr of the episodes listed whose open event is no longer on the alerts
    topic (None when there is none): why their opening score and model are not shown.

    >>> print(lost_open_note([Episode("a1", "p1", 5.0, None, None, [], open_lost=True)], "anomaly-alerts"))
    the open event of 1 episode listed (a1) is no longer on anomaly-alerts (the topic's retention \
deleted it, not the resolved event): the opening SCORE, THRESHOLD and MODEL are unknown (- in the \
table, null in --json)
    """
    lost = [shown_name(e.alert_id) for e in episodes if e.open_lost]  # as the table shows them
    if not lost:
        return None
    named = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
    return (
        f"the open event of {len(lost)} episode{'s' if len(lost) > 1 else ''} listed ({named}) is no "
        f"longer on {topic} (the topic's retention deleted it, not the resolved event): the opening "
        "SCORE, THRESHOLD and MODEL are unknown (- in the table, null in --json)"
    )


def other_schema_note(schemas: Mapping[str, int], topic: str) -> str:
    """What ``alerts`` and ``label`` say on stderr of the events of ``topic`` they left out as of another
    schema than 1 (``schemas``: how many of each, by its JSON text, shown escaped by
    :func:`~pipeline.textwidth.escaped`): a later release wrote them.

    >>> print(other_schema_note({"2": 3}, "anomaly-alerts"))
    left out 3 alert events of anomaly-alerts of schema 2: a later release of dhag-pipeline wrote them, \
and this one reads schema 1 only; run the daemons' release of `dhag-pipeline alerts` to see them
    """
    count = sum(schemas.values())
    # Escaped: orjson leaves DEL and the C1 controls (0x7f to 0x9f) as they are, which a terminal acts on.
    kinds = " and ".join(f"schema {escaped(schema)}" for schema in sorted(schemas))
    return (
        f"left out {count} alert event{'s' if count > 1 else ''} of {topic} of {kinds}: a later release of "
        "dhag-pipeline wrote them, and this one reads schema 1 only; run the daemons' release of "
        "`dhag-pipeline alerts` to see them"
    )


def later_schema_refusal(alert_id: str, schema: str, settings: Any) -> str:
    """Why ``label`` refuses an alert the alerts topic holds in events of another ``schema`` (by its JSON
    text) only: this release cannot read them, nor tell what a label of it should be.

    >>> from pipeline.config import Settings
    >>> print(later_schema_refusal("a1", "2", Settings()))
    alert 'a1' is on the topic 'anomaly-alerts' in events of schema 2 only, which this release of \
dhag-pipeline does not read: label it with the daemons' release of `dhag-pipeline label`; no label was \
written
    """
    return (
        f"alert {alert_id!r} is on the topic {settings.kafka.topics.alerts!r} in events of schema "
        f"{escaped(schema)} only, which this release of dhag-pipeline does not read: label it with the "
        "daemons' release of `dhag-pipeline label`; no label was written"
    )


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
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value) if abs(value) < 2**1023 else math.inf  # float() of 10**400 overflows
    return number if math.isfinite(number) else None


def _strict(value: Any) -> Any:
    """``value`` (as an event gave it) with each NaN or infinity in it as None: strict JSON, which
    ``alerts --json``'s readers (jq, any JSON parser but Python's) take.

    >>> _strict([{"value": float("nan"), "typical_value": 2.5, "notes": [float("inf")]}])
    [{'value': None, 'typical_value': 2.5, 'notes': [None]}]
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def _text(value: Any) -> str | None:
    """A non-empty text an event gives, else None."""
    return str(value) if value not in (None, "") else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
