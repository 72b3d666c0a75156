"""The protocol's metrics: F1 of the anomaly class at the known anomaly rate, and AUROC.

Ties
----
The protocol flags the test rows whose score lies above the ``100 * normal_ratio`` percentile, which
flags exactly as many rows as there are anomalies when the scores are distinct. When several rows
share the score at that boundary (saturated sigmoid scores, say) "above the percentile" can flag too
few rows, and any fixed tie-break depends on row order. :func:`f1_at_anomaly_rate` therefore flags
exactly ``n_anomalies`` rows and breaks the boundary ties at random, returning the *expected* F1 over
that draw (computed exactly, no sampling). With distinct scores this equals the protocol's rule.
``ties="above"`` gives the literal rule instead. AUROC (scikit-learn) counts a tied
anomaly/normal pair as half right, which is the same expectation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["auroc", "boundary_ties", "f1_at_anomaly_rate"]


def _check(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length. Got {y.shape[0]} and {s.shape[0]}.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (normal) and 1 (anomaly).")
    if not np.isfinite(s).all():
        raise ValueError(f"scores hold {int((~np.isfinite(s)).sum())} NaN or infinite value(s).")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        raise ValueError("The test set needs both normal rows and anomalies.")
    return y.astype(np.int64), s


def f1_at_anomaly_rate(
    y_true: np.ndarray, scores: np.ndarray, *, ties: Literal["random", "above"] = "random"
) -> float:
    """F1 of the anomaly class when as many rows are flagged as there are anomalies.

    Parameters
    ----------
    y_true : 1 for anomalies, 0 for normal rows.
    scores : higher = more anomalous.
    ties : ``"random"`` (default) flags exactly ``n_anomalies`` rows, breaking ties at the boundary
        score at random, and returns the expected F1; ``"above"`` flags ``scores > threshold`` with the
        threshold at percentile ``100 * normal_ratio`` of the scores (``np.percentile``, linear).

    Returns
    -------
    float in [0, 1].

    Examples
    --------
    >>> f1_at_anomaly_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    1.0
    >>> f1_at_anomaly_rate([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5])  # all tied: a coin flip
    0.5
    """
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if ties == "above":
        threshold = np.percentile(s, 100.0 * (1.0 - n_pos / y.shape[0]))
        flagged = s > threshold
        tp = int((flagged & (y == 1)).sum())
        n_flagged = int(flagged.sum())
        return 2.0 * tp / (n_flagged + n_pos) if n_flagged + n_pos else 0.0
    if ties != "random":
        raise ValueError(f"ties must be 'random' or 'above'. Got {ties!r}.")
    boundary = np.partition(s, s.shape[0] - n_pos)[s.shape[0] - n_pos]  # the n_pos-th largest score
    above = s > boundary
    tied = s == boundary
    n_fill = n_pos - int(above.sum())  # rows still to flag among the tied ones
    expected_tp = (above & (y == 1)).sum() + n_fill * (tied & (y == 1)).sum() / tied.sum()
    # Flagged count equals the anomaly count, so precision = recall = F1 = TP / n_pos.
    return float(expected_tp / n_pos)


def boundary_ties(y_true: np.ndarray, scores: np.ndarray) -> int:
    """How many rows share the score at the F1 boundary (1 when the boundary is unambiguous)."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    boundary = np.partition(s, s.shape[0] - n_pos)[s.shape[0] - n_pos]
    return int((s == boundary).sum())


def auroc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn), in [0, 1]; tied pairs count one half."""
    from sklearn.metrics import roc_auc_score

    y, s = _check(y_true, scores)
    return float(roc_auc_score(y, s))
