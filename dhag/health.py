"""Label-free checks of a trained detector, computed from training-side rows only.

The outlier probe: take held-out normal rows, push one z-scored column of each row 6 to 9 standard
deviations up or down, and measure how often the pushed copy scores above an unpushed row (an AUROC).
Any useful detector ranks such rows high; a value near 0.5 means the model ignores gross deviations and
a value below 0.5 means it has learned the wrong direction (it calls far-off rows *more* normal). It
needs no anomaly label and never looks at test data.

The weights check: a training that diverged leaves inf or NaN weights, which score every row NaN and
flag none; fit refuses such a network before it keeps anything.

The calibration check: a threshold at the ``1 - target_far`` quantile of a few held-out rows is little
more than their maximum, and the false-alarm rate it gives may be many times ``target_far``; fit warns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

from dhag.exceptions import TrainingError
from dhag.infotext import counted

__all__ = [
    "PUSH_RANGE",
    "check_finite_weights",
    "expected_false_alarms",
    "outlier_probe",
    "pushed_rows",
    "rank_auroc",
    "warn_small_calibration",
]

logger = logging.getLogger("dhag")

# How far a probe pushes a column, in standard deviations (also the retrain gate's fault probes).
PUSH_RANGE = _PUSH_LOW, _PUSH_HIGH = 6.0, 9.0


def rank_auroc(negative: np.ndarray, positive: np.ndarray) -> float:
    """The chance that a ``positive`` score beats a ``negative`` one (ties count half).

    Example
    -------
    >>> import numpy as np
    >>> rank_auroc(np.array([0.1, 0.2]), np.array([0.3, 0.2]))
    0.875
    """
    negative, positive = np.asarray(negative, float), np.asarray(positive, float)
    if negative.size == 0 or positive.size == 0:
        raise ValueError("Need at least one score on each side to compute an AUROC.")
    both = np.concatenate([negative, positive])
    order = np.argsort(both, kind="mergesort")
    sorted_scores = both[order]
    ranks = np.empty(both.size, dtype=float)
    # Average ranks over ties: each run of equal scores gets the mean of its positions (1-based).
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], both.size]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    pos_ranks = ranks[negative.size :].sum()
    u = pos_ranks - positive.size * (positive.size + 1) / 2.0
    return float(u / (positive.size * negative.size))


def pushed_rows(rows: np.ndarray, columns: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Copies of ``rows`` with one of ``columns`` per row moved 6 to 9 units up or down (a new array).

    ``rows`` is a preprocessed (z-scored) matrix, so a unit is one training standard deviation.
    """
    if len(columns) == 0:
        raise ValueError("Need at least one z-scored column to push.")
    out = np.array(rows, dtype=np.float32, copy=True)
    n = out.shape[0]
    pick = np.asarray(columns)[rng.integers(0, len(columns), n)]
    out[np.arange(n), pick] += rng.choice([-1.0, 1.0], n) * rng.uniform(_PUSH_LOW, _PUSH_HIGH, n)
    return out


def outlier_probe(
    score: Callable[[np.ndarray], np.ndarray],
    rows: np.ndarray,
    columns: Sequence[int],
    *,
    seed: int,
) -> float:
    """AUROC of ``score`` between ``rows`` and their pushed copies (see the module docstring)."""
    pushed = pushed_rows(rows, columns, np.random.default_rng(seed))
    return rank_auroc(score(rows), score(pushed))


def check_finite_weights(net: torch.nn.Module) -> None:
    """Raise :class:`~dhag.exceptions.TrainingError` when a weight of ``net`` is inf or NaN.

    Example
    -------
    >>> layer = torch.nn.Linear(2, 1)
    >>> check_finite_weights(layer)
    >>> with torch.no_grad():
    ...     _ = layer.bias.fill_(float("nan"))
    >>> check_finite_weights(layer)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dhag.exceptions.TrainingError: DHAG training diverged: 1 weight tensor is not finite (first: bias)...
    """
    bad = [name for name, p in net.state_dict().items() if p.is_floating_point() and not p.isfinite().all()]
    if bad:
        raise TrainingError(
            f"DHAG training diverged: {counted(len(bad), 'weight tensor')} "
            f"{'is' if len(bad) == 1 else 'are'} not finite (first: {bad[0]}); "
            "try a smaller lr or lambda_norm"
        )


def expected_false_alarms(rows: int, target_far: float) -> str:
    """How many false alarms ``rows`` normal rows give at a rate of ``target_far``, to three significant
    digits (an expectation under one kept so: 0.01, not 0.0), with its noun.

    >>> expected_false_alarms(1, 0.01), expected_false_alarms(184, 0.01), expected_false_alarms(100, 0.01)
    ('0.01 expected false alarms', '1.84 expected false alarms', '1 expected false alarm')
    """
    shown = f"{rows * target_far:.3g}"
    return f"{shown} expected false alarm{'' if shown == '1' else 's'}"


def warn_small_calibration(rows: int, target_far: float, *, held_out: bool = True) -> bool:
    """Warn (and return True) when the threshold's calibration rows cannot place it at a false-alarm
    rate of ``target_far``: fewer than ten expected false alarms among ``rows``, or (``held_out``
    False) rows the network trained on, which score lower than new rows do.

    Example
    -------
    >>> warn_small_calibration(30, 0.01), warn_small_calibration(5000, 0.01)
    (True, False)
    >>> warn_small_calibration(5000, 0.01, held_out=False)
    True
    """
    if not held_out:
        logger.warning(
            "the threshold was calibrated on the %s the network trained on (validation_fraction "
            "held none out): they score lower than new rows, so the false-alarm rate on new data may be "
            "several times target_far %g; hold out normal rows, or set contamination instead",
            counted(rows, "row"),
            target_far,
        )
        return True
    if rows * target_far >= 10:
        return False
    logger.warning(
        "the threshold was calibrated on %s: at target_far %g that is %s, so the false-alarm rate it "
        "gives on new data may be several times the target; train on more normal rows, or set "
        "contamination instead",
        counted(rows, "held-out normal row"),
        target_far,
        expected_false_alarms(rows, target_far),
    )
    return True
