"""Room in a fit's ``time_budget`` for what comes after training: scoring every row once for the
threshold, and the held-out rows and their pushed copies for the outlier probe, with every network the
fit keeps. That scoring is timed on a sample before training starts, with an untrained network of the
same shape (which scores as fast as a trained one), and training gets the budget less it, so that the
fit ends about when its budget says. Room is made before training for the one network each member keeps
however early it stops; each snapshot a training keeps (``snapshots`` > 1) takes its own scoring from
what is left of that training's budget as it is kept (:func:`past_budget`): a training the budget stops
before its second half keeps no snapshot, and its time is not given to them."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from dhag.infotext import counted
from dhag.modules import DHAGNet, net_for_weights

if TYPE_CHECKING:
    from dhag.training import TrainConfig, TrainResult

__all__ = ["past_budget", "scoring_seconds", "with_room_for_scoring"]

logger = logging.getLogger(__name__)

# The rows scoring is timed on: a whole chunk of those a network scores at a time, as each chunk bears a
# cost of its own (on a busy machine, a pass over 4,096 rows took as long as one over 16,384). And the
# share of the budget training keeps whatever scoring is expected to take (a budget smaller than the
# scoring still trains, and says that the fit will run past it).
SAMPLE_ROWS = 65536
MIN_TRAINING_SHARE = 0.1


def scoring_seconds(make_net: Callable[[], DHAGNet], x: torch.Tensor, *, rows: int, networks: int) -> float:
    """Seconds ``networks`` networks made by ``make_net`` are expected to take to score ``rows`` rows,
    from the time one of them takes on ``x``'s first rows (after a few rows that bear a first use's
    costs). It draws nothing from torch's random stream.

    >>> x = torch.zeros(100, 3)
    >>> 0 < scoring_seconds(lambda: DHAGNet(n_features=3), x, rows=1_000, networks=2) < 5
    True
    """
    with torch.device("cpu"):  # not a caller's default device
        net = net_for_weights(make_net)
    net.to(x.device).eval()
    sample = x[:SAMPLE_ROWS].detach().to("cpu", torch.float32).numpy()
    net.anomaly_scores(sample[:64])
    started = time.perf_counter()
    net.anomaly_scores(sample)
    return (time.perf_counter() - started) / max(len(sample), 1) * rows * networks


def with_room_for_scoring(
    cfg: TrainConfig,
    make_net: Callable[[], DHAGNet],
    x_train: torch.Tensor,
    *,
    rows: int,
    calibration_rows: int,
    networks: int,
) -> TrainConfig:
    """``cfg`` with its ``time_budget`` less the time this estimate took and the expected scoring of the
    fit's ``rows`` and the probe's ``calibration_rows`` (twice: as they are, and pushed) by ``networks``
    networks (one a member); at least :data:`MIN_TRAINING_SHARE` of it, with a warning where the scoring
    leaves less. Its ``snapshot_seconds`` is that scoring by one network: what each snapshot kept adds
    (:func:`past_budget`). ``cfg`` itself without a budget."""
    budget = cfg.time_budget
    if budget is None:
        return cfg
    started = time.perf_counter()
    one = scoring_seconds(make_net, x_train, rows=rows + 2 * calibration_rows, networks=1)
    expected = one * networks
    left = budget - expected - (time.perf_counter() - started)
    if left < budget * MIN_TRAINING_SHARE:
        logger.warning(
            "scoring the %s for the threshold with %s may take %.3g s of the "
            "time_budget (%g s)%s: training gets %.3g s of it, and the fit may run past the budget; raise "
            "time_budget, or train on fewer rows",
            counted(rows, "row"),
            counted(networks, "network"),
            expected,
            budget,
            " and as long again a network for each snapshot kept" if cfg.snapshots > 1 else "",
            budget * MIN_TRAINING_SHARE,
        )
        left = budget * MIN_TRAINING_SHARE
    return dataclasses.replace(cfg, time_budget=float(left), snapshot_seconds=one)


def past_budget(cfg: TrainConfig, seconds: float, result: TrainResult, *, snapshot_due: bool = False) -> bool:
    """Whether a training that has run ``seconds`` has spent its ``time_budget``, less
    ``snapshot_seconds`` for each snapshot ``result`` keeps: stopped now, it keeps its last weights beside
    them, and room for one network was made before it began. With ``snapshot_due`` (at the end of an
    epoch whose snapshot is kept), less one more: going on, it would keep its last weights beside that
    one too. Never, without a budget.
    """
    if cfg.time_budget is None:
        return False
    room = cfg.snapshot_seconds * (len(result.snapshot_states) + snapshot_due)
    return seconds >= cfg.time_budget - room
