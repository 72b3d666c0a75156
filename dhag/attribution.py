"""Per-sample attribution: which input features push a row's anomaly score up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dhag.exceptions import ParameterError

__all__ = ["occlusion_attribution"]

_CHUNK_FLOATS = 1 << 24  # 64 MB of float32 occluded rows per scoring call

# A scorer: a preprocessed matrix (n, d) to scores (n,), or to the pair (scores, logits).
Scorer = Callable[[np.ndarray], "np.ndarray | tuple[np.ndarray, np.ndarray]"]


def occlusion_attribution(
    score: Scorer,
    matrix: np.ndarray,
    baseline: np.ndarray,
    slices: Sequence[tuple[str, slice]],
    *,
    top: int | None = None,
    score_occluded: Scorer | None = None,
    logit_drops: bool = False,
) -> list[list[tuple[str, float]]] | list[list[tuple[str, float, float]]]:
    """Rank features by the score drop when each one alone is reset to its typical value.

    ``score`` maps a preprocessed matrix (n, d) to scores (n,); ``matrix`` holds the rows to explain;
    ``baseline`` (d,) is the typical preprocessed row; ``slices`` names the columns of each input
    feature (a one-hot group is reset as a whole). A positive contribution means the feature raises
    the score: an operator reads it as "this sensor would look normal and the score would fall by
    this much". Rows are explained in batched scoring calls of bounded memory.

    A score that saturates ties: a row a sigmoid scores exactly 1.0 (a gross anomaly) often keeps 1.0
    whichever one feature is reset, every drop is 0.0, and the order would be the columns' own.
    ``score`` may therefore return the pair ``(scores, logits)``, where the logits are what the scores
    are an increasing function of (for a sigmoid score, its argument), from the same pass: features
    whose score drops are equal are then ranked by the drop of the logit, the reset that moves the
    model most first. The contribution stays the score drop (0.0 at saturation); with ``logit_drops``
    each entry is ``(feature, contribution, logit_drop)``.

    ``score_occluded`` scores the occluded copies (default: ``score``) and returns what ``score``
    returns; a copy it scores NaN (one the scorer cannot score, though the row itself it can) gives
    that feature a NaN contribution, unknown, ranked after every known one. A feature already at its
    typical value (the copy is the row itself) contributes exactly 0.0, and its logit drop is 0.0: it
    ranks after the features whose reset lowers the logit and before those whose reset raises it. The
    copies are scored in larger batches than the rows, whose sums can differ in the last bits.

    Example
    -------
    >>> import numpy as np
    >>> score = lambda m: np.abs(m).sum(axis=1)
    >>> slices = [("a", slice(0, 1)), ("b", slice(1, 2))]
    >>> occlusion_attribution(score, np.array([[0.5, -3.0]]), np.zeros(2), slices)
    [[('b', 3.0), ('a', 0.5)]]
    >>> capped = lambda m: (np.minimum(np.abs(m).sum(axis=1), 1.0), np.abs(m).sum(axis=1))
    >>> occlusion_attribution(capped, np.array([[2.0, 5.0]]), np.zeros(2), slices, logit_drops=True)
    [[('b', 0.0, 5.0), ('a', 0.0, 2.0)]]
    """
    if isinstance(top, np.integer):
        top = int(top)
    if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and top >= 1):
        raise ParameterError(f"'top' must be None or an int >= 1. Got {top!r} instead.")
    matrix = np.asarray(matrix, dtype=np.float32)
    n_rows, n_features = matrix.shape[0], len(slices)
    if n_rows == 0:
        return []
    base, base_logits = _scores_and_logits(score(matrix))
    score_occluded = score if score_occluded is None else score_occluded
    baseline = np.asarray(baseline, dtype=np.float32)  # as the copies hold it
    # The occluded copies take rows x features x columns floats: built a chunk of rows at a time, so
    # that explaining a large frame never holds more than about _CHUNK_FLOATS of them.
    chunk = max(1, _CHUNK_FLOATS // max(1, n_features * matrix.shape[1]))
    drops = np.empty((n_rows, n_features), dtype=np.float64)
    logit_drop = np.zeros((n_rows, n_features), dtype=np.float64)  # all ties stay ties without logits
    for start in range(0, n_rows, chunk):
        rows = matrix[start : start + chunk]
        here = slice(start, start + len(rows))
        occluded = np.repeat(rows[:, None, :], n_features, axis=1)  # (n, F, d)
        for j, (_, cols) in enumerate(slices):
            occluded[:, j, cols] = baseline[cols]
        scored, logits = _scores_and_logits(score_occluded(occluded.reshape(len(rows) * n_features, -1)))
        scores = base[here]
        drops[here] = scores[:, None] - scored.reshape(len(rows), n_features)
        if base_logits is not None and logits is not None:
            with np.errstate(invalid="ignore"):  # inf - inf: a logit still infinite, by how much unknown
                logit_drop[here] = base_logits[here, None] - logits.reshape(len(rows), n_features)
        for j, (_, cols) in enumerate(slices):  # a reset that changes nothing drops nothing
            unchanged = (rows[:, cols] == baseline[cols]).all(axis=1) & np.isfinite(scores)
            drops[here, j][unchanged] = 0.0
            logit_drop[here, j][unchanged] = 0.0
    names = [name for name, _ in slices]
    limit = n_features if top is None else max(0, min(top, n_features))
    ranked = []
    for row, moved in zip(drops, logit_drop, strict=True):
        # By the score drop, ties by the logit drop; NaN (unknown) sorts last in both stable sorts.
        order = np.argsort(-moved, kind="stable")
        order = order[np.argsort(-row[order], kind="stable")][:limit]
        if logit_drops:
            ranked.append([(names[j], float(row[j]), float(moved[j])) for j in order])
        else:
            ranked.append([(names[j], float(row[j])) for j in order])
    return ranked


def _scores_and_logits(
    scored: np.ndarray | tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(scored, tuple):
        scores, logits = scored
        return np.asarray(scores, dtype=np.float64), np.asarray(logits, dtype=np.float64)
    return np.asarray(scored, dtype=np.float64), None
