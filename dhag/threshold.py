"""The decision threshold of :class:`~dhag.estimator.DHAG`: a high quantile of normal rows' scores, and
the check that refuses one no row could be above.

A row is flagged when its score is above ``threshold_``. The threshold is the ``1 - target_far``
quantile of held-out normal rows' scores (``target_far=None``: :data:`DEFAULT_TARGET_FAR`), or the
``1 - contamination`` quantile of the training scores, never below ``min_threshold`` when that is set.
"""

from __future__ import annotations

import numbers

import numpy as np

from dhag.exceptions import InputError, ParameterError, TrainingError
from dhag.preprocessing import Preprocessor

# The false-alarm rate a threshold is calibrated at when ``target_far`` is left unset (None): unset, not
# 0.01, so that a model given ``contamination`` can tell that it was given no target_far beside it.
DEFAULT_TARGET_FAR = 0.01

__all__ = [
    "DEFAULT_TARGET_FAR",
    "check_normal_scores",
    "check_threshold",
    "checked_threshold",
    "quantile_threshold",
    "refuse_odd_scores",
    "threshold_problem",
]


def threshold_problem(threshold: object) -> str | None:
    """What is wrong with ``threshold`` as a model's ``threshold_``, or None. Scores lie in [0, 1]: above
    1 it flags nothing, below 0 everything, and no score is above NaN; text, None or True is no number,
    though ``float`` would read some of them as one.

    >>> threshold_problem(0.5), threshold_problem(np.float32(1.0)), threshold_problem("0.5")
    (None, None, 'is not a number')
    """
    if isinstance(threshold, bool | np.bool_) or not isinstance(threshold, numbers.Real):
        return "is not a number"
    if not np.isfinite(float(threshold)):
        return "is not a finite number"
    if not 0.0 <= float(threshold) <= 1.0:
        return "is outside [0, 1], where scores lie"
    return None


def checked_threshold(threshold: object) -> float:
    """``threshold`` (a model's ``threshold_``) as a float, or :class:`ParameterError` naming
    ``threshold_`` when it is no number in [0, 1] (:func:`threshold_problem`): set from a file's text,
    it would flag rows by numpy's comparison of a number with text, which ends in a type error.

    >>> checked_threshold(np.float64(0.25))
    0.25
    """
    if (problem := threshold_problem(threshold)) is not None:
        raise ParameterError(
            f"threshold_ must be a number in [0, 1] (a row is flagged when its score is above it). Got "
            f"{threshold!r} ({type(threshold).__name__}), which {problem}.",
            setting="threshold_",
            allowed="a number in [0, 1]",
        )
    return float(threshold)  # type: ignore[arg-type]


def refuse_odd_scores(scores: np.ndarray) -> None:
    """Refuse scores no model gives, naming the first: NaN or infinite (a threshold taken among them is
    NaN), or outside [0, 1] (a logit, say, from ``logit_matrix``: a threshold past 1 flags nothing).

    >>> refuse_odd_scores(np.array([0.2, 0.9]))
    """
    for bad, what in (
        (~np.isfinite(scores), "NaN or infinite"),
        ((scores < 0) | (scores > 1), "outside [0, 1]"),
    ):
        if bad.any():
            first = int(np.argmax(bad))
            raise InputError(
                f"threshold_for takes anomaly scores, which lie in [0, 1]: {int(bad.sum())} of the "
                f"{scores.size} given are {what} (the first, {scores[first]}, at position {first}). Give "
                "decision_function's scores of normal rows (a logit_matrix value is no score)."
            )


def quantile_threshold(
    scores: np.ndarray, level: float, floor: float | None = None, *, share: bool = False
) -> float:
    """The ``level`` quantile of ``scores`` (a score that occurs in them: the one at or above it, or
    with ``share`` the one at or below it, so that the share ``1 - level`` of the scores lies above it,
    as above PyOD's interpolated percentile), raised to ``floor`` when that is higher.

    >>> scores = np.linspace(0.27, 0.29, 1001)
    >>> round(quantile_threshold(scores, 0.99), 4), quantile_threshold(scores, 0.99, floor=0.5)
    (0.2898, 0.5)
    >>> ten = np.arange(10) / 10
    >>> quantile_threshold(ten, 0.9), quantile_threshold(ten, 0.9, share=True)
    (0.9, 0.8)
    """
    threshold = float(np.quantile(scores, level, method="lower" if share else "higher"))
    return threshold if floor is None else max(threshold, float(floor))


def check_threshold(
    threshold: float, pre: Preprocessor | None = None, normal: np.ndarray | None = None
) -> None:
    """Raise :class:`TrainingError` when a calibrated threshold is 1.0, 0.0 or NaN (``fit`` logs it
    as a warning, its ranking may still serve; :meth:`DHAG.threshold_for`, ``dhag train`` and the
    plant's trainers refuse such a model). No score is above 1.0 or NaN; at 0.0, the normal rows it was
    calibrated on score 0.0: the network is saturated on them, and rows like them score 0.0 whatever
    their other readings, so such a model flags nothing either. Inputs that saturate the network come
    from passthrough columns, the only ones preprocessing does not scale: given the preprocessing and
    the preprocessed ``normal`` rows, they are named with their largest value.

    >>> check_threshold(0.62)
    >>> check_threshold(1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dhag.exceptions.TrainingError: DHAG training leaves no score above its threshold (1.0): ...
    """
    if 0.0 < threshold < 1.0:
        return
    hint = _passthrough_hint(pre, normal)
    if threshold == 0.0:
        raise TrainingError(
            "DHAG training saturates the network: normal rows score 0.0, its threshold: rows like them "
            f"score 0.0 whatever their other readings, so they could never be flagged{hint}."
        )
    raise TrainingError(
        f"DHAG training leaves no score above its threshold ({threshold}): normal rows score "
        f"{threshold}, so no row could ever be flagged{hint}."
    )


def check_normal_scores(
    scores: np.ndarray, pre: Preprocessor | None = None, normal: np.ndarray | None = None
) -> None:
    """Raise :class:`TrainingError` when a trained network scores normal training rows NaN: it overflows
    float32 on them although its weights are finite (a training that diverged, kept by early stopping
    at an epoch that had already blown up), and a threshold taken among NaN scores is NaN, no threshold.
    ``pre`` and the preprocessed ``normal`` rows name the passthrough columns, as in
    :func:`check_threshold`.

    >>> check_normal_scores(np.array([0.2, 0.9]))
    >>> check_normal_scores(np.array([0.2, np.nan]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dhag.exceptions.TrainingError: DHAG training diverged: the network kept scores 1 of the 2 normal ...
    """
    unscored = int(np.isnan(scores).sum())
    if not unscored:
        return
    raise TrainingError(
        f"DHAG training diverged: the network kept scores {unscored} of the {scores.size} normal training "
        "rows NaN (it overflows float32 on them), so no threshold can be placed; try a smaller lr or "
        f"lambda_norm{_passthrough_hint(pre, normal)}"
    )


def _passthrough_hint(pre: Preprocessor | None, normal: np.ndarray | None) -> str:
    passthrough = [
        f"{name!r} (up to {float(np.abs(normal[:, sl]).max()):.3g})"
        for name, sl in (pre.feature_slices() if pre is not None else [])
        if name in pre.passthrough and normal is not None and normal.size
    ]
    return f"; passthrough columns are not standardised: {', '.join(passthrough)}" if passthrough else ""
