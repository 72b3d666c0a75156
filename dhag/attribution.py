"""Per-sample attribution: which input features push a row's anomaly score up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dhag.exceptions import ParameterError

__all__ = ["occlusion_attribution"]

_CHUNK_FLOATS = 1 << 24  # 64 MB of float32 occluded rows per scoring call


def occlusion_attribution(
    score: Callable[[np.ndarray], np.ndarray],
    matrix: np.ndarray,
    baseline: np.ndarray,
    slices: Sequence[tuple[str, slice]],
    *,
    top: int | None = None,
    score_occluded: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[list[tuple[str, float]]]:
    """Rank features by the score drop when each one alone is reset to its typical value.

    ``score`` maps a preprocessed matrix (n, d) to scores (n,); ``matrix`` holds the rows to explain;
    ``baseline`` (d,) is the typical preprocessed row; ``slices`` names the columns of each input
    feature (a one-hot group is reset as a whole). A positive contribution means the feature raises
    the score: an operator reads it as "this sensor would look normal and the score would fall by
    this much". Rows are explained in batched scoring calls of bounded memory.

    ``score_occluded`` scores the occluded copies (default: ``score``); a copy it scores NaN (one the
    scorer cannot score, though the row itself it can) gives that feature a NaN contribution, unknown,
    ranked after every known one. A feature already at its typical value (the copy is the row itself)
    contributes exactly 0.0: the copies are scored in larger batches than the rows, whose sums can
    differ in the last bits.

    Example
    -------
    >>> import numpy as np
    >>> score = lambda m: np.abs(m).sum(axis=1)
    >>> occlusion_attribution(score, np.array([[0.5, -3.0]]), np.zeros(2),
    ...                       [("a", slice(0, 1)), ("b", slice(1, 2))])
    [[('b', 3.0), ('a', 0.5)]]
    """
    if isinstance(top, np.integer):
        top = int(top)
    if top is not None and not (isinstance(top, int) and not isinstance(top, bool) and top >= 1):
        raise ParameterError(f"'top' must be None or an int >= 1. Got {top!r} instead.")
    matrix = np.asarray(matrix, dtype=np.float32)
    n_rows, n_features = matrix.shape[0], len(slices)
    if n_rows == 0:
        return []
    base = score(matrix)
    score_occluded = score if score_occluded is None else score_occluded
    baseline = np.asarray(baseline, dtype=np.float32)  # as the copies hold it
    # The occluded copies take rows x features x columns floats: built a chunk of rows at a time, so
    # that explaining a large frame never holds more than about _CHUNK_FLOATS of them.
    chunk = max(1, _CHUNK_FLOATS // max(1, n_features * matrix.shape[1]))
    drops = np.empty((n_rows, n_features), dtype=np.float64)
    for start in range(0, n_rows, chunk):
        rows = matrix[start : start + chunk]
        occluded = np.repeat(rows[:, None, :], n_features, axis=1)  # (n, F, d)
        for j, (_, cols) in enumerate(slices):
            occluded[:, j, cols] = baseline[cols]
        scored = score_occluded(occluded.reshape(len(rows) * n_features, -1)).reshape(len(rows), n_features)
        scores = base[start : start + len(rows)]
        drops[start : start + len(rows)] = scores[:, None] - scored
        for j, (_, cols) in enumerate(slices):  # a reset that changes nothing drops nothing
            unchanged = (rows[:, cols] == baseline[cols]).all(axis=1) & np.isfinite(scores)
            drops[start : start + len(rows), j][unchanged] = 0.0
    names = [name for name, _ in slices]
    limit = n_features if top is None else max(0, min(top, n_features))
    ranked = []
    for row in drops:
        order = np.argsort(-row, kind="stable")[:limit]  # NaN (unknown) sorts last
        ranked.append([(names[j], float(row[j])) for j in order])
    return ranked
