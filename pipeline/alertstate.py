"""The alert state of one asset (:class:`~pipeline.alerts.AlertTracker`'s): its hysteresis window and
its open episode, and the :class:`Transition` an episode's opening or resolution makes."""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

__all__ = ["AssetState", "Episode", "Transition", "reading_key"]


def reading_key(ts: float, values: Mapping[str, Any] | None = None) -> int:
    """What tells one reading of an asset from another: its record time and the sensor values its record
    carried (None: its record time alone), as one int64. The score is no part of it: a model swapped in
    scores the same reading otherwise, and two readings alike in score (a saturated or floored one) may
    differ.

    >>> reading_key(5.0, {"a": 1, "b": 2.5}) == reading_key(5.0, {"b": 2.5, "a": 1.0})
    True
    >>> key = reading_key(5.0, {"a": 1})
    >>> key == reading_key(5.0, {"a": 2}), key == reading_key(6.0, {"a": 1})
    (False, False)
    """
    if values is None:
        return hash(ts)
    try:
        return hash((ts, frozenset(values.items())))
    except TypeError:  # a sensor the model does not read carried a list or an object: its JSON text
        text = [
            orjson.dumps(v, option=orjson.OPT_SORT_KEYS) if isinstance(v, dict | list) else v
            for v in values.values()
        ]
        return hash((ts, frozenset(zip(values, text, strict=True))))


@dataclass(frozen=True)
class Transition:
    """An episode opened or resolved; ``index`` is the batch row that caused it (None for quiet time)."""

    kind: Literal["open", "resolved"]
    alert_id: str
    asset_id: str
    opened_at: float
    ts: float
    score: float
    index: int | None
    resolved_by: str | None = None
    context: Any = None
    source: str | None = None
    last_source: str | None = None  # resolved: the episode's last record (see AlertTracker.observe)
    latest_ts: float | None = None  # resolved: the latest record time among the episode's records
    earliest_ts: float | None = None  # resolved: the earliest record time among its readings over


@dataclass
class Episode:
    """An open episode."""

    alert_id: str
    opened_at: float
    last_score: float
    last_ts: float
    context: Any = None
    source: str | None = None
    last_source: str | None = None
    latest_ts: float = -math.inf
    earliest_ts: float = math.inf  # of the readings over the threshold: the fault's
    # The latest record time among its readings over the threshold, from which resolve_hold_s runs;
    # -inf for one carried over until its first reading here (whose time starts the hold).
    high_ts: float = -math.inf
    movable: bool = False  # its asset's readings may have moved to another partition (sweep's vet)
    held_until: float | None = None  # a silence held back once, until then (settle)

    @classmethod
    def opened(cls, alert_id: str, ts: float, score: float, source: str) -> Episode:
        """The episode that the reading of record time ``ts`` and Kafka position ``source`` opens."""
        return cls(alert_id, ts, score, ts, None, source, source, ts, ts, high_ts=ts)


_HYSTERESIS = ("recent", "overs", "episode", "normal_run", "last_over_at", "last_seen_at")


class AssetState:
    """The hysteresis window of one asset, its open episode, and what a carry-over says of it."""

    __slots__ = (*_HYSTERESIS, "seen", "replayed_until", "replayed_ts")

    def __init__(self, window: int) -> None:
        self.recent: deque[bool] = deque(maxlen=window)
        # The readings of the window, as reading_key (ts and sensor values): one delivered again is told
        # (a repeat). An array, of a tenth of a deque's size: the state of 100,000 assets may be held.
        self.seen = array("q")
        self.overs, self.normal_run = 0, 0
        self.episode: Episode | None = None
        self.last_over_at, self.last_seen_at = 0.0, 0.0
        # Carried over: the offset from which records are new here. Records before it, met again after
        # a crash between delivery and commit, were scored by the earlier owner into the events the
        # alerts topic holds; they are no later than the record time replayed_ts (a record at a lower
        # offset but a later time is new: from an input topic whose offsets started over).
        self.replayed_until: int | None = None
        self.replayed_ts = 0.0

    def copy(self) -> AssetState:
        twin = AssetState(self.recent.maxlen or 1)
        twin.recent.extend(self.recent)
        twin.seen = array("q", self.seen)
        twin.overs, twin.normal_run = self.overs, self.normal_run
        twin.last_over_at, twin.last_seen_at = self.last_over_at, self.last_seen_at
        twin.replayed_until, twin.replayed_ts = self.replayed_until, self.replayed_ts
        twin.episode = None if self.episode is None else replace(self.episode)
        return twin
