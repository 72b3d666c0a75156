"""The snapshot ensemble (``DHAG(snapshots=S)``): one training, scored by the mean of its own states.

Late in training the order in which one DHAG network ranks rows keeps changing from epoch to epoch:
on Table 2 one training's F1 moves by 13 to 69 points between snapshots after half the epochs
(``docs/benchmarks.md`` section 1.4). With ``snapshots`` > 1 the fit keeps the end-of-epoch weights of
``S`` epochs spread evenly over the second half of the planned epochs, the last one included, and
scores a row by the mean of their scores, like :class:`~dhag.ensemble.DHAGEnsemble`'s members. The
training is the same as without it; only what is kept differs. It costs ``S`` times the scoring
and none of the training that ``n_members`` costs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from dhag.modules import DHAGNet, net_for_weights

if TYPE_CHECKING:
    from dhag.training import TrainConfig, TrainResult

__all__ = [
    "averaging_start",
    "keep_snapshot",
    "kept_networks",
    "planned_epochs",
    "report_fewer_snapshots",
    "snapshot_schedule",
]

logger = logging.getLogger("dhag")


def planned_epochs(cfg: TrainConfig, n_batches: int) -> int:
    """The epochs the budget plans (for weight averaging and the snapshots): ``max_epochs``, or fewer
    when ``max_steps`` ends training first."""
    planned = cfg.max_epochs
    if cfg.max_steps is not None:
        planned = min(planned, math.ceil(cfg.max_steps / n_batches))
    return planned


def averaging_start(cfg: TrainConfig, n_batches: int) -> int:
    """The epoch after which weights are averaged: half of :func:`planned_epochs`."""
    return planned_epochs(cfg, n_batches) // 2


def snapshot_schedule(cfg: TrainConfig, n_batches: int) -> frozenset[int]:
    """The epochs whose end-of-epoch weights a snapshot ensemble keeps: ``cfg.snapshots`` of them, as
    evenly spaced as whole epochs allow over the second half of the planned epochs, the last included
    (all of that half when it holds fewer epochs).

    >>> from types import SimpleNamespace
    >>> sorted(snapshot_schedule(SimpleNamespace(max_epochs=100, max_steps=None, snapshots=10), 7))
    [55, 60, 65, 70, 75, 80, 85, 90, 95, 100]
    >>> sorted(snapshot_schedule(SimpleNamespace(max_epochs=100, max_steps=1000, snapshots=4), 50))
    [12, 15, 17, 20]
    >>> sorted(snapshot_schedule(SimpleNamespace(max_epochs=5, max_steps=None, snapshots=10), 7))
    [3, 4, 5]
    """
    # The second half as weight averaging defines it: the same epochs, the same budget rule.
    planned, start = planned_epochs(cfg, n_batches), averaging_start(cfg, n_batches)
    span = planned - start
    if cfg.snapshots >= span:
        return frozenset(range(start + 1, planned + 1))
    # floor(x + 0.5), not round(): half-to-even rounding could give two snapshots the same epoch.
    return frozenset(planned - int(i * span / cfg.snapshots + 0.5) for i in range(cfg.snapshots))


def keep_snapshot(result: TrainResult, net: DHAGNet, epoch: int) -> None:
    """Record a copy of ``net``'s weights at the end of ``epoch`` in ``result``."""
    result.snapshot_states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    result.snapshot_epochs.append(epoch)


def kept_networks(net: DHAGNet, result: TrainResult, make_net: Callable[[], DHAGNet]) -> list[DHAGNet]:
    """The networks a training keeps: its snapshots' when it kept more than one, else ``net`` itself."""
    if len(result.snapshot_states) <= 1:
        return [net]
    nets = []
    for state in result.snapshot_states:
        with torch.device("cpu"):  # not a caller's default device
            snap = net_for_weights(make_net)
        snap.to(next(iter(state.values())).device)
        snap.load_state_dict(state)
        snap.eval()
        nets.append(snap)
    return nets


def report_fewer_snapshots(cfg: TrainConfig, result: TrainResult) -> None:
    """Warn where a training kept fewer end-of-epoch states than ``cfg.snapshots`` asks (the second
    half of its planned epochs holds fewer epochs, or ``time_budget`` stopped it first): the model
    scores with the mean of those it kept, which the setting alone would not tell."""
    kept = max(len(result.snapshot_epochs), 1)  # one state kept is the network itself
    if cfg.snapshots <= 1 or cfg.early_stopping or kept >= cfg.snapshots:
        return
    planned = planned_epochs(cfg, max(result.epoch_steps, 1))
    why = (
        f"time_budget stopped training at epoch {result.epochs_run} of {planned} planned"
        if result.stopped_by == "time_budget"
        else f"the second half of its {planned} planned epochs holds only {planned - planned // 2}; more "
        "max_epochs (or max_steps) make room for more"
    )
    logger.warning(
        "snapshots=%d, but the training kept %d end-of-epoch state(s), which the model scores with: %s",
        cfg.snapshots,
        kept,
        why,
    )
