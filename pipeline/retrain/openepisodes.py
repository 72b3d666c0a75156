"""Where an alert episode that no event resolved ended, as the sampled readings of its asset tell.

An asset's newest episode with no ``resolved`` event keeps every later reading of its asset out of the
normal sample and, when confirmed, out of the parent's reference sample in a run. While the fault
lasts that is right. But a resolution is sometimes never sent: the daemon stopped for longer than
``alerts.carry_over_s`` (or carry-over is off) while the episode was open, so no daemon resolves it;
once the asset has recovered, it raises no alert that would end the episode either, and its readings
would be left out for good.

So at each run the current model scores the asset's sampled readings since the episode began and
follows them with the daemon's own hysteresis (``alerts.open_after`` of ``alerts.window`` over the
threshold open, ``alerts.resolve_after`` in a row not over resolve once ``alerts.resolve_hold_s`` of
record time passed since the last one over; a reading it cannot score counts as over, and, as the
daemon judges them, a plant model's reading at standstill counts as not over whatever it scores, nor
does one that a cold bearing alone put over within ``alerts.warmup_s`` after a standstill,
:mod:`pipeline.warmup`): the episode
ended at its last reading over before the first such resolving run (its opening when the run follows
it at once). When the readings after that open an episode again, as they would
have in a daemon (an intermittent fault whose sampled readings scored normal for a while; it may
still be open in a running daemon), the end moves to where that one resolved; while one is open the
episode is still open. A lone reading over among normal ones, as a false alarm, opens none. The
sample holds one reading in ``retrain.normal_sample_every``, so a run spans more readings than the
daemon's rule needs.
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from typing import Any

import numpy as np

from pipeline.config import AlertSettings
from pipeline.normalsample import NormalSample
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.unscorable import scores_of
from pipeline.warmup import WarmUp

__all__ = ["ended_at", "open_episode_ends"]

log = logging.getLogger(__name__)


def ended_at(times: np.ndarray, over: np.ndarray, alerts: AlertSettings, *, start: float) -> float | None:
    """When an episode that began at ``start`` ended, from its asset's readings since (``times``, in
    order, and whether each scored ``over`` the threshold), with the hysteresis of ``alerts`` (see the
    module): where the last episode they hold resolved; None while one is open.

    >>> from pipeline.config import AlertSettings
    >>> alerts = AlertSettings(open_after=2, window=3, resolve_after=2, resolve_hold_s=0)
    >>> t = np.arange(5.0, 13.0)
    >>> ended_at(t, np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=bool), alerts, start=0.0)  # a lone one
    5.0
    >>> ended_at(t, np.array([1, 0, 0, 1, 0, 1, 0, 0], dtype=bool), alerts, start=0.0)  # opens again
    10.0
    >>> ended_at(t, np.array([1, 0, 0, 1, 0, 1, 1, 0], dtype=bool), alerts, start=0.0) is None
    True
    >>> held = AlertSettings(open_after=2, window=3, resolve_after=2, resolve_hold_s=4)
    >>> ended_at(t, np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=bool), held, start=0.0)  # at 12, 4 s on
    8.0
    """
    recent: deque[bool] = deque(maxlen=alerts.window)
    is_open, last, run, end = True, start, 0, None
    for t, flagged in zip(times.tolist(), over.tolist(), strict=True):
        if is_open:
            last, run = (t, 0) if flagged else (last, run + 1)
            if run >= alerts.resolve_after and t - last >= alerts.resolve_hold_s:
                is_open, end = False, last
                recent.clear()
            continue
        recent.append(flagged)
        if flagged and sum(recent) >= alerts.open_after:
            is_open, last, run = True, t, 0
    return None if is_open else end


def open_episode_ends(store: NormalSample, model: Any, alerts: AlertSettings) -> dict[str, float]:
    """By alert id, where each episode no event resolved and that is its asset's newest ended, as
    ``model`` (the current one) finds its asset's sampled readings since (see the module); an episode
    still open is left out. Passed to :meth:`~pipeline.normalsample.NormalSample.normal_sample` and
    :meth:`~pipeline.normalsample.NormalSample.confirmed_episodes` as ``ends``."""
    episodes = store.open_episodes()
    rows = [store.readings_of(asset, start) for _, asset, start in episodes]
    # One call of the model for them all: a call each took tens of milliseconds, on the loop thread,
    # whatever its few readings (thousands of assets, at every run's start).
    fmap = FeatureMap.of(model)
    X, kept, still = fmap.read([(a, v) for held in rows for a, _, v in held])
    scores = scores_of(model, X)
    # A reading the model cannot score may be the fault: it counts as one over the threshold. One at
    # standstill the daemon judges normal whatever it scores (near 1.0): a stop ends an episode.
    over = np.isnan(scores) | ((scores > model.threshold_) & ~still)
    times = np.array([t for held in rows for _, t, _ in held], dtype=float)[kept]
    whose = np.repeat(np.arange(len(episodes)), [len(held) for held in rows])[kept]
    if fmap.derived is not None and alerts.warmup_s and still.any():
        # Nor a reading that a cold bearing alone put over, within alerts.warmup_s after a standstill.
        assets = [episodes[i][1] for i in whose.tolist()]
        score = functools.partial(scores_of, model)
        over = WarmUp(alerts.warmup_s).replay(over, X, assets, times.tolist(), still, score, model.threshold_)
    edges = np.searchsorted(whose, np.arange(len(episodes) + 1))  # each episode's rows, in turn
    ends: dict[str, float] = {}
    for i, (alert_id, asset, start) in enumerate(episodes):
        mine = slice(edges[i], edges[i + 1])
        end = ended_at(times[mine], over[mine], alerts, start=start)
        if end is not None:
            ends[alert_id] = end
            log.info(
                "alert %s of %s was never resolved; its readings were normal after %.0f: they return to"
                " the normal sample",
                alert_id,
                asset,
                end,
            )
    return ends
