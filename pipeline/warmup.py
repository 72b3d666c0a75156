"""A machine started after a standstill reads cold until it warms up: not a fault.

A plant model learns a machine's bearing running warm, its temperature rise over ambient at the asset's
usual (``bearing_rise_pu`` near 1). Started after standing still, the bearing is at ambient and warms
with a thermal lag of minutes to an hour; until then every reading has a bearing rise far below what the
model ever saw, and a model that knows only warm running flags it (on the simulated plant, a cold start
opened an alert on every asset for its first ten minutes). Alarm practice suppresses alarms that a
machine's state explains (start-up inhibit); here the state explains one thing only, the cold bearing.

So, for ``alerts.warmup_s`` of record time after an asset's last reading at standstill
(:meth:`~pipeline.features.PlantFeatures.standstill`), a reading over the threshold whose bearing rise
is under its usual is scored again with the bearing rise at its usual: a reading that the cold bearing
alone put over the threshold is judged normal (counted in ``dhag_readings_warming_up_total``); one that
stays over (a fault in its flow, pressure, power or vibration, or a bearing hotter than usual) is judged
as any other. A gateway may send nothing of a machine that stands still: with ``silence_s``
(``alerts.warmup_after_silence_s``), a running reading that follows its asset's previous one by more
than that is taken as a start too. The retrainer's replay (:meth:`WarmUp.replay`) goes by standstill
readings alone: its readings are a sample, whose gaps say nothing of a silence. The daemon sees a
start only where it read the standstill or the silence: when it takes partitions up
afresh (a start, a partition moved to it) it reads the standstills of their last ``warmup_s`` back from
the input topic (:mod:`pipeline.warmupread`); a machine started before the topic's first record, or
an asset's first reading, is not known to be warming up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.features import DERIVED_FEATURES

__all__ = ["RUNNING", "STANDSTILL", "WARMING_UP", "WarmUp"]

_BEARING = DERIVED_FEATURES.index("bearing_rise_pu")
#: The bearing rise per unit of the asset's usual (its median over training) a warm machine reads.
USUAL = 1.0
#: How long an asset's latest reading is kept for ``silence_s`` (a machine may stand still for weeks).
SEEN_KEEP_S = 30 * 86400.0
#: An asset's state as ``dhag_asset_state`` exports it (:meth:`WarmUp.state`).
RUNNING, STANDSTILL, WARMING_UP = 0, 1, 2


class WarmUp:
    """Per asset, the record time of its last reading at standstill, and the readings judged warming up.

    >>> warm = WarmUp(3600.0)
    >>> derived = np.ones((3, len(DERIVED_FEATURES)))
    >>> derived[:, _BEARING] = [0.0, 0.2, 0.2]  # a stop, then two cold readings
    >>> assets, stamps = ["p1", "p1", "p2"], [100.0, 700.0, 700.0]
    >>> warm.note(assets, stamps, np.array([True, False, False]))
    >>> score = lambda X: np.where(X[:, _BEARING] < 0.5, 0.9, 0.1)  # the cold bearing alone is high
    >>> warm.judge(np.array([False, True, True]), derived, assets, stamps, score, 0.5).tolist()
    [False, False, True]
    """

    def __init__(self, warmup_s: float, silence_s: float = 0.0, max_assets: int = 100_000) -> None:
        self.warmup_s = float(warmup_s)
        self.silence_s = float(silence_s)
        #: The most assets whose latest reading is kept for ``silence_s`` (``alerts.max_assets``): past a
        #: quarter more, those heard from least recently are forgotten (a flood of made-up ids).
        self.max_assets = int(max_assets)
        self._stopped: dict[str, float] = {}
        #: Per asset, the record time of its latest reading (kept only with ``silence_s``).
        self._seen: dict[str, float] = {}
        self._prune_at = -np.inf
        #: How many readings the last :meth:`judge` took out of ``over``.
        self.judged = 0

    def note(self, assets: Sequence[str], stamps: Sequence[float], still: np.ndarray) -> None:
        """Take the record times of the readings at standstill (``still``) of ``assets``; with
        ``silence_s``, also of each running reading that follows its asset's previous one by more than
        that (a machine whose readings stop while it stands still: it starts there). Readings are taken
        in the order given, each asset's in time order.

        >>> warm = WarmUp(3600.0, silence_s=600.0)
        >>> warm.note(["p1", "p1", "p1"], [0.0, 10.0, 4000.0], np.array([False, False, False]))
        >>> warm.warming("p1", 10.0), warm.warming("p1", 4000.0), warm.warming("p1", 7700.0)
        (False, True, False)
        """
        for j in np.flatnonzero(still).tolist():
            ts = float(stamps[j])
            if ts > self._stopped.get(assets[j], -np.inf):
                self._stopped[assets[j]] = ts
        if self.silence_s:
            self._note_silences(assets, stamps, still)
            if len(self._seen) > self.max_assets * 1.25:
                newest = sorted(self._seen.items(), key=lambda item: item[1])[-self.max_assets :]
                self._seen = dict(newest)
        latest = max(stamps, default=-np.inf)
        if latest >= self._prune_at and (self._stopped or self._seen):  # at most once per warmup_s
            self._stopped = {a: t for a, t in self._stopped.items() if latest - t <= self.warmup_s}
            self._seen = {a: t for a, t in self._seen.items() if latest - t <= SEEN_KEEP_S}
            self._prune_at = latest + max(self.warmup_s, 1.0)

    def started(self, asset: str, ts: float) -> None:
        """Take ``asset`` to have started at record time ``ts`` (its warm-up begins), unless a later
        standstill or start is known."""
        self._stopped[asset] = max(float(ts), self._stopped.get(asset, -np.inf))

    def _note_silences(self, assets: Sequence[str], stamps: Sequence[float], still: np.ndarray) -> None:
        seen, silence = self._seen, self.silence_s
        for asset, ts, at_rest in zip(
            assets, np.asarray(stamps, dtype=float).tolist(), still.tolist(), strict=True
        ):
            previous = seen.get(asset)
            if previous is None or ts > previous:
                seen[asset] = ts
                if previous is not None and ts - previous > silence and not at_rest:
                    self.started(asset, ts)

    def warming(self, asset: str, ts: float) -> bool:
        """Whether a reading of ``asset`` at record time ``ts`` falls within ``warmup_s`` after the
        asset's last reading at standstill that :meth:`note` took (not before it)."""
        return 0.0 <= float(ts) - self._stopped.get(asset, np.inf) <= self.warmup_s

    def state(self, asset: str, ts: float, still: bool) -> int:
        """The state of ``asset`` that its reading at ``ts`` shows: :data:`STANDSTILL` (``still``),
        :data:`WARMING_UP` (running, within ``warmup_s`` after its last standstill) or :data:`RUNNING`.

        >>> warm = WarmUp(600.0)
        >>> warm.note(["p1"], [100.0], np.array([True]))
        >>> [warm.state("p1", 100.0, True), warm.state("p1", 400.0, False), warm.state("p1", 800.0, False)]
        [1, 2, 0]
        """
        return STANDSTILL if still else WARMING_UP if self.warming(asset, ts) else RUNNING

    def judge(
        self,
        over: np.ndarray,
        derived: np.ndarray,
        assets: Sequence[str],
        stamps: Sequence[float],
        score: Callable[[np.ndarray], np.ndarray],
        threshold: float,
    ) -> np.ndarray:
        """``over`` with the readings that a cold bearing alone put over ``threshold`` taken out, those of
        an asset within ``warmup_s`` after its last standstill: ``score`` (the model's) of them with the
        bearing rise at its usual is at most the threshold. Counts them in :attr:`judged`."""
        self.judged = 0
        if not self._stopped or not over.any():
            return over
        return self._judge(
            over, derived, stamps, lambda j: self._stopped.get(assets[j], np.inf), score, threshold
        )

    def replay(
        self,
        over: np.ndarray,
        derived: np.ndarray,
        assets: Sequence[str],
        stamps: Sequence[float],
        still: np.ndarray,
        score: Callable[[np.ndarray], np.ndarray],
        threshold: float,
    ) -> np.ndarray:
        """:meth:`judge` for readings each asset's of which are in time order, those at standstill
        (``still``) among them: each reading against its asset's last standstill at or before it, as
        the daemon judged them batch after batch; ``score`` is called once. Nothing is noted.

        >>> derived = np.ones((4, len(DERIVED_FEATURES)))
        >>> derived[:, _BEARING] = [0.2, 0.0, 0.2, 0.2]  # cold before the stop, and after it
        >>> score = lambda X: np.where(X[:, _BEARING] < 0.5, 0.9, 0.1)
        >>> over, still = np.array([True, False, True, True]), np.array([False, True, False, False])
        >>> WarmUp(3600.0).replay(over, derived, ["p1"] * 4, [0.0, 60.0, 120.0, 9000.0], still, score, 0.5)
        array([ True, False, False,  True])
        """
        self.judged = 0
        last: dict[str, float] = {}
        stopped = np.full(len(assets), np.inf)
        for j, (asset, ts) in enumerate(zip(assets, stamps, strict=True)):
            if still[j]:
                last[asset] = max(float(ts), last.get(asset, -np.inf))
            stopped[j] = last.get(asset, np.inf)
        if not np.isfinite(stopped).any() or not over.any():
            return over
        return self._judge(over, derived, stamps, lambda j: float(stopped[j]), score, threshold)

    def _judge(
        self,
        over: np.ndarray,
        derived: np.ndarray,
        stamps: Sequence[float],
        stopped: Callable[[int], float],
        score: Callable[[np.ndarray], np.ndarray],
        threshold: float,
    ) -> np.ndarray:
        """:meth:`judge`, with ``stopped`` (a reading's position -> its asset's last standstill)."""
        cold = [
            j
            for j in np.flatnonzero(over).tolist()
            if derived[j, _BEARING] < USUAL and 0.0 <= float(stamps[j]) - stopped(j) <= self.warmup_s
        ]
        if not cold:
            return over
        warm = derived[cold].copy()
        warm[:, _BEARING] = USUAL
        with np.errstate(invalid="ignore"):
            normal = np.asarray(score(warm)) <= threshold  # NaN (unscorable): stays over
        over = over.copy()
        over[np.asarray(cold)[normal]] = False
        self.judged = int(normal.sum())
        return over

    def judge_batch(self, over: np.ndarray, parsed: Any, still: np.ndarray, active: Any) -> np.ndarray:
        """:meth:`note` and :meth:`judge` for a batch the daemon parsed (its derived features, asset ids
        and record times) and scored with ``active`` (:class:`~pipeline.hotswap.ActiveModel`); a reading
        it cannot score again stays over."""

        def score(rows: np.ndarray) -> np.ndarray:
            scores, refused = active.score(rows)
            scores = np.array(scores, dtype=float)
            scores[list(refused)] = np.nan
            return scores

        stamps = parsed.timestamps.tolist()
        self.note(parsed.asset_ids, stamps, still)
        return self.judge(over, parsed.matrix, parsed.asset_ids, stamps, score, active.threshold)
