"""Where an alert episode that no event resolved ended, as the sampled readings of its asset tell.

An asset's newest episode with no ``resolved`` event keeps every later reading of its asset out of the
normal sample and, when confirmed, out of the parent's reference sample in a run. While the fault
lasts that is right. But a resolution is sometimes never sent: the daemon stopped for longer than
``alerts.carry_over_s`` (or carry-over is off) while the episode was open, so no daemon resolves it;
once the asset has recovered, it raises no alert that would end the episode either, and its readings
would be left out for good.

So at each run the current model scores the asset's sampled readings since the episode began: the
episode ended at its last reading over the threshold (a reading it cannot score counts as one) before
the first ``alerts.resolve_after`` sampled readings in a row scored normal; its opening when they
follow it at once. The sample holds one reading in ``retrain.normal_sample_every``, so such a run spans
more normal readings than the daemon's own rule needs. An episode with no such run yet is still open.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipeline.normalsample import NormalSample
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.unscorable import scores_of

__all__ = ["ended_at", "open_episode_ends"]

log = logging.getLogger(__name__)


def ended_at(times: np.ndarray, over: np.ndarray, resolve_after: int, *, start: float) -> float | None:
    """When an episode that began at ``start`` ended, from its asset's readings since (``times``, in
    order, and whether each scored ``over`` the threshold): the last one over before the first
    ``resolve_after`` in a row that are not (``start`` when they come first); None without such a run.

    >>> ended_at(np.array([5.0, 6.0, 7.0, 8.0]), np.array([True, False, False, True]), 2, start=0.0)
    5.0
    """
    last, run = start, 0
    for t, flagged in zip(times.tolist(), over.tolist(), strict=True):
        if flagged:
            last, run = t, 0
            continue
        run += 1
        if run >= resolve_after:
            return last
    return None


def open_episode_ends(store: NormalSample, model: Any, resolve_after: int) -> dict[str, float]:
    """By alert id, where each episode no event resolved and that is its asset's newest ended, as
    ``model`` (the current one) finds its asset's sampled readings since (see the module); an episode
    still open is left out. Passed to :meth:`~pipeline.normalsample.NormalSample.normal_sample` and
    :meth:`~pipeline.normalsample.NormalSample.confirmed_episodes` as ``ends``."""
    fmap = FeatureMap.of(model)
    ends: dict[str, float] = {}
    for alert_id, asset, start in store.open_episodes():
        rows = store.readings_of(asset, start)
        X, kept = fmap.matrix([(a, v) for a, _, v in rows])
        times = np.array([t for _, t, _ in rows], dtype=float)[kept]
        scores = scores_of(model, X)
        # A reading the model cannot score may be the fault: it counts as one over the threshold.
        over = ~(scores <= model.threshold_)
        end = ended_at(times, over, resolve_after, start=start)
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
