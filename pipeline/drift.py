"""Drift in the anomaly-score stream: river's ADWIN, one detector for the model version in use (a new
version starts a fresh window; the previous version's detector is dropped, so months of model swaps
keep one).

ADWIN keeps an adaptive window and flags a change when two sub-windows have significantly different
means; it needs no window size and no assumption about the score distribution.

What it is fed decides what it finds. Fed every score, its power grows with the stream's rate: on a
healthy simulated plant it reported a change several times a day, each time the daily load cycle moved
the scores (``dhag-pipeline bench drift``, docs/drift-bench.md). So by default the scores are first
gathered into buckets of ``bucket_s`` seconds of record time, and ADWIN sees each bucket's median: a
fixed number of values per day whatever the fleet's size and rate, and a value that one faulted asset
among many does not move. A shift of most of the plant that outlasts the buckets ADWIN needs to be sure
(a few hours) is reported; a load cycle or one asset's fault is not. ``bucket_s=0`` feeds every score,
as the service did before.

Buckets follow record time (``ts``). Kafka hands a consumer one partition's records after another's, so
a bucket stays open for :data:`LATE_S` (an hour) of newer record time: the other partitions' readings
of that time still join it, and a backlog read after an outage fills the buckets its readings belong
to. Older scores join the oldest open bucket. A score dated further ahead of ``clock`` (or of the Kafka
record time, when later) than a record may be (``future_s``, at least ``bucket_s``, under an hour) is
left out (and logged): one record dated years ahead would
otherwise close every bucket up to its date and keep the rest in one that never closes. The median
comes from a histogram of 1,000 bins over [0, 1], so a bucket's memory does not grow with the rate.

A change is reported once, not again when the scores come back: ADWIN flags the return to the level
they left as a change too (a plant whose bearings ran hotter scored 1.0 each afternoon, and each
afternoon was flagged twice: its start and its end, 7 to 8 hours apart). At a detection ADWIN drops
the older part of its window: the scores moved from that part's mean to the kept part's. A move back
towards the level a reported change left (the dropped part's mean at that change) is its return:
counted in :attr:`returns`, not reported, and the change is over; the next move is a change again (the
next afternoon's, a second shift), and so is a move further away. A new model version starts afresh.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from river.drift import ADWIN

from pipeline.backoff import ThrottledLog
from pipeline.config import Settings
from pipeline.driftbuckets import LATE_S, MAX_BUCKETS, check_bucket_s

__all__ = ["LATE_S", "MAX_BUCKETS", "DriftEvent", "ScoreDriftMonitor", "drift_monitor"]

log = logging.getLogger(__name__)

_BINS = 1000


@dataclass(frozen=True)
class DriftEvent:
    """One detection: the model version, scores seen so far, and ADWIN's window after the change
    (its mean and its length, in scores or, when bucketed, in buckets of bucket medians)."""

    model_version: str
    scores_seen: int
    window_mean: float
    window_size: int


class _Bucket:
    """The open bucket: its index (record time // bucket_s) and a histogram of its scores."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.counts = np.zeros(_BINS, dtype=np.int64)

    def add(self, scores: np.ndarray) -> None:
        bins = np.clip((scores * _BINS).astype(np.int64), 0, _BINS - 1)
        self.counts += np.bincount(bins, minlength=_BINS)

    def median(self) -> float | None:
        """The median to a bin's width (the mean of the two middle scores' bins for an even count)."""
        total = int(self.counts.sum())
        if total == 0:
            return None
        cum = np.cumsum(self.counts)
        low = int(np.searchsorted(cum, (total + 1) // 2))  # the bin of the lower middle score
        high = int(np.searchsorted(cum, total // 2 + 1))  # and of the upper one
        return ((low + high) / 2 + 0.5) / _BINS


class ScoreDriftMonitor:
    """Feed batches of scores (with their record times); get a :class:`DriftEvent` for each change.

    Example (bucketed, the default: a day of scores every 30 s whose level then moves for good)
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 2 * 86_400, 30.0)
    >>> cycle = 0.3 + 0.05 * np.sin(2 * np.pi * t / 86_400)  # a daily load cycle: no drift
    >>> mon = ScoreDriftMonitor(delta=0.002, bucket_s=300)
    >>> mon.update("v1", cycle + rng.normal(0, 0.03, t.size), t)
    []
    >>> later = t + 2 * 86_400
    >>> events = mon.update("v1", cycle + 0.15 + rng.normal(0, 0.03, t.size), later)
    >>> hours_after = (events[0].scores_seen - t.size) * 30 / 3600  # the level moved at 48 h
    >>> len(events) >= 1 and 0 < hours_after < 12
    True
    >>> mon.update("v2", [0.5], [later[-1]]), list(mon._detectors)  # v1's window is gone
    ([], ['v2'])

    Every score (``bucket_s=0``): times are not needed.

    >>> mon = ScoreDriftMonitor(delta=0.002, bucket_s=0)
    >>> mon.update("v1", rng.uniform(0.0, 0.2, 2000))
    []
    >>> events = mon.update("v1", rng.uniform(0.6, 0.9, 2000))
    >>> len(events) >= 1 and events[0].scores_seen > 2000
    True
    """

    def __init__(
        self,
        *,
        delta: float = 0.002,
        bucket_s: float = 300.0,
        clock: Callable[[], float] | None = None,
        future_s: float = 0.0,
    ) -> None:
        if not (bucket_s >= 0 and math.isfinite(bucket_s)):
            raise ValueError(f"bucket_s must be a finite number >= 0, not {bucket_s!r}")
        try:
            check_bucket_s(bucket_s)  # at most MAX_BUCKETS open
        except ValueError as exc:
            raise ValueError(f"bucket_s={exc}") from None
        self.delta = delta
        self.bucket_s = float(bucket_s)
        self.clock = clock
        # As far ahead as a record may be (records.max_future_s), but short of the hour a bucket waits:
        # one reading further ahead would close every on-time bucket.
        self.future_s = max(self.bucket_s, min(float(future_s), LATE_S - self.bucket_s))
        #: Scores left out for a record time more than ``future_s`` ahead of ``clock`` (or ``now``).
        self.future_scores = 0
        #: Detections not reported: the scores came back towards the level a reported change left.
        self.returns = 0
        # The level the scores left at the change last reported (ADWIN's dropped part), until they
        # come back towards it: None while no reported change is under way.
        self._left: float | None = None
        self._future_log = ThrottledLog(log, 60.0)
        self._late = max(1, math.ceil(LATE_S / self.bucket_s)) if self.bucket_s else 0
        self._detectors: dict[str, ADWIN] = {}
        self._seen: dict[str, int] = {}
        self._open: dict[int, _Bucket] = {}  # index -> bucket, oldest first
        self._newest = -1  # the newest bucket index reached

    def _detector(self, model_version: str) -> ADWIN:
        detector = self._detectors.get(model_version)
        if detector is None:
            # Bucket medians come a few hundred a day: check every one (river's default checks every
            # 32nd value, which suits a value per score).
            clock = 1 if self.bucket_s else 32
            detector = ADWIN(delta=self.delta, clock=clock)
            self._detectors = {model_version: detector}
            self._seen = {model_version: self._seen.get(model_version, 0)}
            self._open, self._newest = {}, -1
            self._left = None
        return detector

    def update(
        self,
        model_version: str,
        scores: Iterable[float],
        times: Sequence[float] | np.ndarray | None = None,
        now: float | Callable[[], float | None] | None = None,
    ) -> list[DriftEvent]:
        """Add scores of ``model_version`` in stream order, with their record times (epoch seconds)
        unless ``bucket_s`` is 0; returns the detections among them. ``now``: a time later than
        ``clock`` that the record times may be judged against (the Kafka record time), or a function
        giving it, asked only when a score lies ahead of ``clock``."""
        detector = self._detector(model_version)
        values = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=float)
        seen = self._seen.get(model_version, 0)
        events: list[DriftEvent] = []
        if not self.bucket_s:
            for score in values[np.isfinite(values)].tolist():  # one NaN would stop ADWIN for good
                seen += 1
                if self._changed(detector, score):
                    events.append(self._event(model_version, seen, detector))
            self._seen[model_version] = seen
            return events
        if times is None:
            raise ValueError("a bucketed drift monitor needs the scores' record times")
        stamps = np.asarray(times, dtype=float)
        if stamps.shape != values.shape:
            raise ValueError(f"{values.size} scores but {stamps.size} record times")
        keep = np.isfinite(values) & np.isfinite(stamps)
        if self.clock is not None:
            ahead = keep & (stamps > self.clock() + self.future_s)
            if ahead.any() and (later := now() if callable(now) else now) is not None:
                ahead &= stamps > later + self.future_s
            if ahead.any():
                self.future_scores += int(ahead.sum())
                keep &= ~ahead
                self._future_log.log(
                    "ahead",
                    logging.WARNING,
                    "%d scores left out of drift detection so far: dated more than %g s ahead of this "
                    "host's clock (and of the Kafka record time)",
                    *(self.future_scores, self.future_s),
                )
        order = np.argsort(stamps[keep], kind="stable")
        values, stamps = values[keep][order], stamps[keep][order]
        indices = np.floor(stamps / self.bucket_s).astype(np.int64)
        starts = np.flatnonzero(np.diff(indices)) + 1
        for part, part_values in zip(np.split(indices, starts), np.split(values, starts), strict=True):
            if part.size == 0:
                continue
            index = int(part[0])
            if self._newest >= 0 and index <= self._newest - self._late - 1 and self._open:
                index = min(self._open)  # older than every open bucket: the oldest takes it
            self._open.setdefault(index, _Bucket(index)).add(part_values)
            seen += int(part_values.size)
            self._newest = max(self._newest, index)
            for old in sorted(i for i in self._open if i < self._newest - self._late):
                median = self._open.pop(old).median()
                if median is not None and self._changed(detector, median):
                    events.append(self._event(model_version, seen, detector))
        self._seen[model_version] = seen
        return events

    def _changed(self, detector: ADWIN, value: float) -> bool:
        """Feed ``value`` to ``detector``; whether it detected a change to report (not a return)."""
        width, mean = int(detector.width), float(detector.estimation)
        detector.update(value)
        if not detector.drift_detected:
            return False
        kept, dropped = int(detector.width), width + 1 - int(detector.width)
        now = float(detector.estimation)  # the kept window's mean; and the dropped older part's:
        then = (width * mean + value - kept * now) / dropped if dropped > 0 else mean
        left = self._left
        if left is not None and (now - then) * (left - then) > 0:  # back towards the level it left
            self.returns += 1
            self._left = None
            return False
        if left is None:
            self._left = then
        return True

    @staticmethod
    def _event(model_version: str, seen: int, detector: ADWIN) -> DriftEvent:
        return DriftEvent(model_version, seen, float(detector.estimation), int(detector.width))


def drift_monitor(settings: Settings) -> ScoreDriftMonitor:
    """The monitor ``settings`` describe (``drift``), fed record times as far ahead of the wall clock
    as a record may be (``records.max_future_s``): the daemon's and the retrainer's alike."""
    drift = settings.drift
    ahead = settings.records.max_future_s or 0.0
    return ScoreDriftMonitor(delta=drift.delta, bucket_s=drift.bucket_s, clock=time.time, future_s=ahead)
