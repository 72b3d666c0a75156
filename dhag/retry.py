"""Training with the collapse retry: train once; when that training collapsed, train once more from
the same seed with shifted-row anomalies (:class:`~dhag.estimator.DHAG`'s ``collapse_retry``), and with
the ``L_ce`` controller too when ``retry_ce_target`` is set (the plant model sets it).

A collapsed training is one whose last ``L_ce`` is within 1 % of what a constant predictor gets: with
the paper's objective alone it scores every row alike. The test needs no label. The two training-side
rules, both computed without any label:

- Shifted-row anomalies (``shift_weight``, ``shift_range``, ``shift_mode``): every mini-batch also
  yields copies of its rows with one z-scored column moved 2 to 4 standard deviations up or down,
  which enter like known anomalies. Without them nothing asks the encoder to map unusual inputs
  anywhere in particular, and on large tables it maps every row to one score. Such copies can land
  among normal rows (a row 1 deviation above the mean moved 2 down), and a model trained on them
  flags the tails of the normal range. ``shift_mode="beyond"`` puts the value ``shift_range``
  deviations past the column's training maximum or minimum instead (with e.g. ``(0, 2)``), where
  no training row lies: better for sensor data whose slow processes sit near the edge of their
  range for minutes (the simulated plant), worse on KDD (``docs/benchmarks.md`` section 1.2).
- The ``L_ce`` controller (``ce_target``): after each update lambda1 (``lambda_norm``, its starting
  value) is multiplied by ``exp(0.05 * (ce_target - L_ce / constant))``, so the perturbations grow
  when the discriminator can no longer tell them apart and shrink when it tells them apart easily;
  ``L_ce`` is held near ``ce_target`` (0.9) times a constant predictor's instead of collapsing onto
  it. ``ce_target=None`` keeps lambda1 fixed, as in the paper. With the shifted rows the level of
  ``L_ce`` says little about the detector: alone they gave better detectors on KDD and KDDRev than
  with the controller, although the latent game's ``L_ce`` ended at a constant predictor's
  (``docs/benchmarks.md`` section 1.6), so the library's retry leaves the controller off.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from dhag.modules import DHAGNet
from dhag.training import TrainConfig, TrainResult, train

__all__ = [
    "COLLAPSE_CE_RATIO",
    "CONTROLLER_TARGET",
    "FIRST_SHARE",
    "RETRY_SETTINGS",
    "Trained",
    "collapse_level",
    "describe_health",
    "report_collapse",
    "train_with_retry",
]

logger = logging.getLogger(__name__)

# Training whose L_ce ends within 1 % of a constant predictor's has learned (almost) nothing.
COLLAPSE_CE_RATIO = 0.99
# What a collapsed training is retried with: shifted-row anomalies. With them alone the retry beat the
# retry that also steered L_ce on both benchmark tables that collapse (docs/benchmarks.md 1.6).
RETRY_SETTINGS = {"shift_weight": 1.0}
# The L_ce controller's target where it is used: in a retry with ``DHAG(retry_ce_target=...)`` (the
# plant model's) and in the benchmarks' "always" and "controller" rules.
CONTROLLER_TARGET = 0.9
# The share of a time budget a first training may use when a collapse retry could follow it: the retry
# is needed exactly when that training failed, so it must not find the budget spent.
FIRST_SHARE = 0.5


@dataclass
class Trained:
    """The network kept, its training, and a record of every attempt."""

    net: DHAGNet
    result: TrainResult
    attempts: list[dict[str, Any]]
    collapsed: bool
    ce_ratio: float
    # Every attempt's training time together: what a time budget bounds.
    seconds: float = 0.0


def train_with_retry(
    make_net: Callable[[], DHAGNet],
    x_train: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int,
    retry: bool,
    x_val: torch.Tensor | None = None,
    x_known: torch.Tensor | None = None,
    shift_columns: torch.Tensor | None = None,
    retry_ce_target: float | None = None,
    on_epoch: Callable[[dict[str, float], DHAGNet], None] | None = None,
) -> Trained:
    """Train a network from ``make_net`` (seeded with ``seed``) on ``x_train`` and, when ``retry`` and
    the training collapsed, once more from the same seed with :data:`RETRY_SETTINGS` (and
    ``ce_target=retry_ce_target`` when that is set and ``cfg`` has none). A retry starts from exactly
    the state a fresh training with those settings would. ``on_epoch(record, net)`` is called after
    every epoch of every attempt (``record["attempt"]`` counts from 1) with the network in eval mode.

    ``cfg.time_budget`` bounds both trainings together. When a retry could follow, the first may use
    :data:`FIRST_SHARE` of it, so that a collapse leaves the retry at least as long (a first training
    that learned is kept as it stands, and its fit ends early); the retry gets all that is left. When
    nothing is left, the retry does not run and that is logged. Without a budget, or with one that
    never binds, the trainings are exactly those of an unbounded fit.
    """
    again = dataclasses.replace(cfg, **RETRY_SETTINGS)
    if retry_ce_target is not None and cfg.ce_target is None:
        again = dataclasses.replace(again, ce_target=retry_ce_target)
    can_retry = retry and again != cfg
    budget = cfg.time_budget
    if budget is not None and can_retry:
        cfg = dataclasses.replace(cfg, time_budget=budget * FIRST_SHARE)
    attempts: list[dict[str, Any]] = []
    net, result = _attempt(make_net, x_train, cfg, seed, 1, x_val, x_known, shift_columns, on_epoch)
    ce_ratio, collapsed = _record(attempts, cfg, result)
    seconds = result.seconds
    if collapsed and can_retry:
        left = None if budget is None else budget - result.seconds
        if left is not None and left <= 0:
            logger.warning(
                "DHAG training collapsed (L_ce at %.3f of a constant predictor's) and used all of its "
                "time_budget (%g s): the retry with ce_target=%s and shift_weight=%s did not run, so the "
                "model kept is the collapsed one; raise time_budget",
                ce_ratio,
                budget,
                again.ce_target,
                again.shift_weight,
            )
        else:
            logger.warning(
                "DHAG training collapsed (L_ce at %.3f of a constant predictor's): training again "
                "from the same seed with ce_target=%s and shift_weight=%s%s",
                ce_ratio,
                again.ce_target,
                again.shift_weight,
                "" if left is None else f", for the {left:.3g} s left of its time_budget ({budget:g} s)",
            )
            if left is not None:
                again = dataclasses.replace(again, time_budget=left)
            net, result = _attempt(make_net, x_train, again, seed, 2, x_val, x_known, shift_columns, on_epoch)
            ce_ratio, collapsed = _record(attempts, again, result)
            seconds += result.seconds
    if result.stopped_by == "time_budget" and result.epochs_run == 1 and result.steps < result.epoch_steps:
        _report_part_epoch(result, x_train.shape[0])
    return Trained(net, result, attempts, collapsed, ce_ratio, seconds)


def _attempt(
    make_net: Callable[[], DHAGNet],
    x_train: torch.Tensor,
    cfg: TrainConfig,
    seed: int,
    number: int,
    x_val: torch.Tensor | None,
    x_known: torch.Tensor | None,
    shift_columns: torch.Tensor | None,
    on_epoch: Callable[[dict[str, float], DHAGNet], None] | None,
) -> tuple[DHAGNet, TrainResult]:
    """One training from ``seed``: the network it leaves (in eval mode) and its result."""
    device = x_train.device
    # Initialise from the seed without touching the caller's global torch random streams: the
    # network is built on the CPU, so only the CPU generator is seeded (torch.manual_seed would
    # reseed every GPU's as well, and fork_rng restore only those it is given).
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):  # not a caller's default device
        torch.random.default_generator.manual_seed(seed)
        net = make_net()
    net.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    hook = None if on_epoch is None else functools.partial(_epoch_hook, on_epoch, net, number)
    result = train(
        net,
        x_train,
        cfg,
        x_val=x_val,
        x_known=x_known,
        shift_columns=shift_columns,
        generator=generator,
        on_epoch=hook,
    )
    net.eval()
    return net, result


def _record(attempts: list[dict[str, Any]], cfg: TrainConfig, result: TrainResult) -> tuple[float, bool]:
    """Add a training to ``attempts``; return its last epoch's ``L_ce`` over a constant predictor's and
    whether it collapsed."""
    ce_ratio = result.history[-1]["ce_ratio"] if result.history else float("nan")
    collapsed = bool(ce_ratio >= COLLAPSE_CE_RATIO)
    attempts.append(
        {
            "ce_target": cfg.ce_target,
            "shift_weight": cfg.shift_weight,
            "ce_vs_constant": round(float(ce_ratio), 4),
            "collapsed": collapsed,
            "steps": result.steps,
            "seconds": round(result.seconds, 3),
        }
    )
    return ce_ratio, collapsed


def _report_part_epoch(result: TrainResult, n_rows: int) -> None:
    """Warn that the time budget ended the kept training before it had seen every training row once."""
    epoch_seconds = result.seconds / max(result.steps, 1) * result.epoch_steps
    logger.warning(
        "DHAG training was stopped by its time_budget after %.3g s and %d of the %d updates of one epoch: "
        "the model has seen %.1f %% of its %d training rows once, and one epoch takes about %.3g s here; "
        "raise time_budget, or train on fewer rows",
        result.seconds,
        result.steps,
        result.epoch_steps,
        100 * result.steps / result.epoch_steps,
        n_rows,
        epoch_seconds,
    )


def _epoch_hook(
    on_epoch: Callable[[dict[str, float], DHAGNet], None],
    net: DHAGNet,
    attempt: int,
    record: dict[str, float],
) -> None:
    on_epoch({**record, "attempt": float(attempt)}, net)


def collapse_level(collapsed: bool, kept: dict[str, Any], probe: float) -> str | None:
    """How a training whose ``L_ce`` ended at a constant predictor's stands: ``None`` when it did not,
    ``"info"`` when shifted rows trained the kept attempt and at least 0.9 of the outlier probe's
    pushed rows outscore the rows themselves (the encoder learned although the latent game ended
    level, ``docs/benchmarks.md`` section 1.6), else ``"warning"`` (every row scored alike).

    Example
    -------
    >>> collapse_level(True, {"shift_weight": 1.0}, 0.999), collapse_level(True, {"shift_weight": 1.0}, 0.6)
    ('info', 'warning')
    >>> collapse_level(True, {"shift_weight": 0.0}, 0.999), collapse_level(False, {}, 0.5)
    ('warning', None)
    """
    if not collapsed:
        return None
    return "info" if kept.get("shift_weight", 0.0) > 0 and probe >= 0.9 else "warning"


def describe_health(training: dict[str, Any]) -> str:
    """One line on a fitted model's training health from its ``training_`` record, as ``dhag info``
    prints it; the same verdict as the fit's log (:func:`collapse_level`).

    Example
    -------
    >>> describe_health({"ce_vs_constant": 0.42, "collapsed": False})
    "L_ce at 0.420 of a constant predictor's (learned)"
    >>> kept = {"shift_weight": 1.0}
    >>> describe_health({"ce_vs_constant": 1.004, "collapsed": True, "attempts": [kept],
    ...                  "outlier_probe_auroc": 0.998})  # doctest: +ELLIPSIS
    "L_ce at 1.004 of a constant predictor's (latent game level; the shifted-row anomalies still ...
    """
    attempts = training.get("attempts") or [{}]
    probe = training.get("outlier_probe_auroc")
    probe = float("nan") if probe is None else float(probe)
    level = collapse_level(bool(training.get("collapsed")), attempts[-1], probe)
    verdict = {
        None: "learned",
        "info": f"latent game level; the shifted-row anomalies still separate, outlier probe {probe:.3f}",
        "warning": "COLLAPSED: scores barely separate anything",
    }[level]
    return f"L_ce at {training['ce_vs_constant']:.3f} of a constant predictor's ({verdict})"


def report_collapse(collapsed: bool, kept: dict[str, Any], ce_ratio: float, probe: float) -> str | None:
    """Log how a kept training whose ``L_ce`` ended at a constant predictor's stands; return the level.

    ``kept`` is the kept attempt's record. With the paper's objective alone such a model scores every
    row alike: a warning. With shifted rows it may still be a good detector, since they train the
    encoder whatever the latent game does (``docs/benchmarks.md`` section 1.6); when at least 0.9 of the
    outlier probe's pushed rows outscore the rows themselves, that is said at INFO instead.

    Example
    -------
    >>> report_collapse(True, {"shift_weight": 1.0}, 1.006, 0.999)
    'info'
    >>> report_collapse(True, {"shift_weight": 0.0}, 1.0, 0.999), report_collapse(False, {}, 0.9, 1.0)
    ('warning', None)
    """
    level = collapse_level(collapsed, kept, probe)
    if level == "info":
        logger.info(
            "DHAG's latent game ended at %.3f of a constant predictor's L_ce; the shifted-row anomalies "
            "still separate (outlier probe %.3f)",
            ce_ratio,
            probe,
        )
    elif level == "warning":
        logger.warning(
            "DHAG training collapsed: the last epoch's L_ce is %.3f of what a constant predictor gets, so "
            "the model scores every training row alike and separates little; try more data, another seed, "
            "a lower ce_target or a smaller lambda_norm",
            ce_ratio,
        )
    return level
