"""Room in a fit's ``time_budget`` for what comes after training: scoring every row once for the
threshold, and the held-out rows and their pushed copies for the outlier probe, with every network the
fit keeps (each member's snapshots). That scoring is timed on a sample before training starts, with an
untrained network of the same shape (which scores as fast as a trained one), and training gets the
budget less it, so that the fit ends about when its budget says. Each member's snapshots are counted
as kept, which a training the budget stopped early may not keep: the room left is then more than that
scoring takes, and the fit ends before its budget."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import torch

from dhag.modules import DHAGNet, net_for_weights
from dhag.training import TrainConfig

__all__ = ["scoring_seconds", "with_room_for_scoring"]

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
    networks; at least :data:`MIN_TRAINING_SHARE` of it, with a warning where the scoring leaves less.
    ``cfg`` itself without a budget."""
    budget = cfg.time_budget
    if budget is None:
        return cfg
    started = time.perf_counter()
    expected = scoring_seconds(make_net, x_train, rows=rows + 2 * calibration_rows, networks=networks)
    left = budget - expected - (time.perf_counter() - started)
    if left < budget * MIN_TRAINING_SHARE:
        logger.warning(
            "scoring the %d rows for the threshold with up to %d network(s) may take %.3g s of the "
            "time_budget (%g s): training gets %.3g s of it, and the fit may run past the budget; raise "
            "time_budget, or train on fewer rows",
            rows,
            networks,
            expected,
            budget,
            budget * MIN_TRAINING_SHARE,
        )
        left = budget * MIN_TRAINING_SHARE
    return dataclasses.replace(cfg, time_budget=float(left))
