"""Several DHAG networks trained on the same rows from their own seeds, scored by the mean of their scores.

One DHAG training is chaotic: the same rows and settings from another seed, or the same seed on another
CPU, give a model whose F1 differs by up to 18 points on Table 2 (``docs/benchmarks.md`` section 1.8).
The mean of a few members' scores cuts that spread and, where members disagree most, lifts the result:
:class:`~dhag.estimator.DHAG`'s ``n_members``. Every member shares the preprocessing, the training rows
and the held-out validation rows, so the threshold is still calibrated on rows none of them trained on;
member ``m`` trains (and retries a collapse) from ``seed + MEMBER_SEED_STEP * m``, so member 0 is the
single model of that seed, bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dhag.infotext import counted
from dhag.modules import DHAGNet, net_for_weights
from dhag.retry import Trained, train_with_retry
from dhag.scoringroom import with_room_for_scoring
from dhag.training import TrainConfig

__all__ = [
    "MEMBER_SEED_STEP",
    "DHAGEnsemble",
    "build_net",
    "ensemble_logit",
    "members_record",
    "train_members",
]

logger = logging.getLogger("dhag")

# Member m of a fit with seed s trains from s + MEMBER_SEED_STEP * m: apart from the seeds of other
# fits (bench seeds run 0-4), and member 0 is the fit's single model.
MEMBER_SEED_STEP = 1000


class DHAGEnsemble(nn.Module):
    """DHAG networks whose anomaly score is the plain mean of the members' scores (all in [0, 1]).

    Example
    -------
    >>> import numpy as np
    >>> nets = [DHAGNet(n_features=3), DHAGNet(n_features=3)]
    >>> ens = DHAGEnsemble(nets)
    >>> rows = np.ones((4, 3), dtype=np.float32)
    >>> each = [net.anomaly_scores(rows) for net in nets]
    >>> bool(np.allclose(ens.anomaly_scores(rows), (each[0] + each[1]) / 2))
    True
    >>> ens.member_scores(rows).shape
    (2, 4)
    """

    def __init__(self, members: Sequence[DHAGNet]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least 2 members. Got {len(members)}.")
        self.members = nn.ModuleList(members)

    def member_scores(self, matrix: np.ndarray, *, chunk: int | None = None) -> np.ndarray:
        """Every member's scores of a preprocessed float32 matrix: shape (members, rows)."""
        return np.stack([net.anomaly_scores(matrix, chunk=chunk) for net in self.members])

    def anomaly_scores(self, matrix: np.ndarray, *, chunk: int | None = None) -> np.ndarray:
        """The mean of the members' scores per row, float64 in [0, 1]."""
        return self.member_scores(matrix, chunk=chunk).mean(axis=0)

    def scores_and_logits(
        self, matrix: np.ndarray, *, chunk: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The anomaly scores (as :meth:`anomaly_scores`) and their logits, from one pass of each member.

        The logit is that of the ensemble's own score, ``log(s / (1 - s))`` for the mean ``s`` of the
        members' probabilities, computed from the members' logits without forming ``s``:
        ``log(mean(sigmoid(l))) - log(mean(sigmoid(-l)))``. So its sigmoid is the score, it orders rows
        as the score does, and it still tells rows apart where the score is exactly 1.0 or 0.0 (every
        member saturated): there it follows the least sure members (the mean of the members' logits
        would follow the surest). NaN where a member's logit is (a row it overflows on); +-inf where
        every member's logit is.

        Example
        -------
        >>> rows = np.array([[0.0, 1.0, -1.0]], dtype=np.float32)
        >>> ens = DHAGEnsemble([DHAGNet(n_features=3), DHAGNet(n_features=3)])
        >>> scores, logits = ens.scores_and_logits(rows)
        >>> bool(np.allclose(1 / (1 + np.exp(-logits)), ens.anomaly_scores(rows)))
        True
        >>> round(float(ensemble_logit(np.array([[40.0], [50.0]]))[0]), 3)  # both score 1.0, so does the mean
        40.693
        """
        each = [net.scores_and_logits(matrix, chunk=chunk) for net in self.members]
        scores = np.stack([s for s, _ in each]).mean(axis=0)  # as anomaly_scores, to the last bit
        return scores, ensemble_logit(np.stack([lg for _, lg in each]))


def ensemble_logit(member_logits: np.ndarray) -> np.ndarray:
    """The logit of the mean of ``sigmoid(member_logits)`` over axis 0, computed in log space so that it
    neither saturates nor overflows: ``logsumexp(log_sigmoid(l)) - logsumexp(log_sigmoid(-l))``."""
    up = np.logaddexp.reduce(-np.logaddexp(0.0, -member_logits), axis=0)  # log of the sum of p
    down = np.logaddexp.reduce(-np.logaddexp(0.0, member_logits), axis=0)  # log of the sum of 1 - p
    return up - down  # never inf - inf: at most one of the two sums is 0


def build_net(n_members: int, make_net: Callable[[], DHAGNet]) -> nn.Module:
    """An untrained network of the shape a fit with ``n_members`` keeps (for loading its weights; built
    without drawing from the process-wide torch random stream)."""
    if n_members == 1:
        return net_for_weights(make_net)
    return DHAGEnsemble([net_for_weights(make_net) for _ in range(n_members)])


def train_members(
    make_net: Callable[[], DHAGNet],
    x_train: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int,
    n_members: int,
    on_epoch: Callable[[dict[str, float], DHAGNet], None] | None = None,
    **retry_kwargs: Any,
) -> list[Trained]:
    """Train ``n_members`` networks on the same rows, member ``m`` from ``seed + MEMBER_SEED_STEP * m``
    through :func:`~dhag.retry.train_with_retry` (``retry_kwargs`` go there unchanged).

    A ``time_budget`` in ``cfg`` bounds the whole fit: the scoring of the rows for the threshold that
    follows training is expected to take part of it (:mod:`dhag.scoringroom`), and each member gets an
    equal share of what is left when it starts. With more than one member, ``on_epoch`` records carry
    ``member`` (from 0).
    """
    x_val, x_known = retry_kwargs.get("x_val"), retry_kwargs.get("x_known")
    held_out = 0 if x_val is None else len(x_val)
    if cfg.early_stopping and held_out < 2:  # dhag.training.train watches the training objective then
        logger.warning(
            "early_stopping has %s to watch (it needs 2; validation_fraction sets "
            "how many): it keeps the epoch with the lowest objective on the %s it trains on",
            counted(held_out, "held-out normal row"),
            counted(len(x_train), "row"),
        )
    cfg = with_room_for_scoring(
        cfg,
        make_net,
        x_train,
        rows=len(x_train) + held_out + (0 if x_known is None else len(x_known)),
        calibration_rows=held_out or len(x_train),
        networks=n_members,  # each snapshot kept makes its own room (dhag.scoringroom.past_budget)
    )
    started = time.perf_counter()
    trained = []
    for m in range(n_members):
        member_cfg = cfg
        if cfg.time_budget is not None and n_members > 1:
            left = max(cfg.time_budget - (time.perf_counter() - started), 1e-3)
            member_cfg = dataclasses.replace(cfg, time_budget=left / (n_members - m))
        hook = on_epoch
        if on_epoch is not None and n_members > 1:
            hook = functools.partial(_member_hook, on_epoch, m)
        trained.append(
            train_with_retry(
                make_net,
                x_train,
                member_cfg,
                seed=seed + MEMBER_SEED_STEP * m,
                on_epoch=hook,
                **retry_kwargs,
            )
        )
    return trained


def _member_hook(
    on_epoch: Callable[[dict[str, float], DHAGNet], None],
    member: int,
    record: dict[str, float],
    net: DHAGNet,
) -> None:
    on_epoch({**record, "member": float(member)}, net)


def members_record(trained: Sequence[Trained], seed: int) -> list[dict[str, Any]]:
    """One summary per member for ``training_["members"]``: its seed, attempts and training health."""
    return [
        {
            "member": m,
            "seed": seed + MEMBER_SEED_STEP * m,
            "ce_vs_constant": round(float(t.ce_ratio), 4),
            "collapsed": t.collapsed,
            "attempts": t.attempts,
            "epochs_run": t.result.epochs_run,
            "steps": t.result.steps,
            "stopped_by": t.result.stopped_by,
            "train_seconds": round(t.seconds, 3),
        }
        for m, t in enumerate(trained)
    ]
