"""What scoring refuses: a preprocessed matrix the network cannot take, and rows it could not score.

:meth:`DHAG.score_matrix <dhag.estimator.DHAG.score_matrix>` takes a matrix that skipped the
preprocessing's checks (the hot path of a streaming scorer), so its shape and values are checked here;
and a NaN score is never above the threshold, so a row scored NaN is refused rather than reported as
normal.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from dhag.exceptions import DHAGError, InputError

__all__ = ["checked_matrix", "refuse_unscored"]


def checked_matrix(matrix: np.ndarray, width: int) -> np.ndarray:
    """``matrix`` as float32, refused with :class:`InputError` unless it holds numbers only, all finite,
    in ``width`` columns.

    >>> checked_matrix([[1, 2]], 2).dtype
    dtype('float32')
    >>> checked_matrix([[1.0, float("nan")]], 2)
    Traceback (most recent call last):
    ...
    dhag.exceptions.InputError: 1 row(s) hold NaN or infinite values (first: row 0).
    """
    try:
        matrix = np.asarray(matrix, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"A preprocessed matrix must hold numbers: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise InputError(f"Expected a preprocessed matrix with {width} columns. Got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        raise InputError(f"{rows.size} row(s) hold NaN or infinite values (first: row {int(rows[0])}).")
    return matrix


def refuse_unscored(scored: np.ndarray, net: nn.Module) -> None:
    """Raise unless every row was scored to a finite number (``scored``: one bool per row).

    A NaN score is never above the threshold: a row scored NaN would be reported as normal. It
    comes from weights that are not finite (a damaged model: :class:`DHAGError`), or from finite
    inputs near float32's limit that overflow inside the network (inf - inf is NaN): the row is
    refused (:class:`InputError` naming the first)."""
    overflowed = np.flatnonzero(~scored)
    if not overflowed.size:
        return
    broken = [n for n, p in net.state_dict().items() if p.is_floating_point() and not p.isfinite().all()]
    if broken:
        raise DHAGError(
            f"The model's weights are not finite ({len(broken)} tensors, first: {broken[0]}): it "
            "scores rows NaN; load or train another model."
        )
    raise InputError(
        f"{overflowed.size} row(s) too large for the model to score: the network overflows "
        f"float32 on them (first: row {int(overflowed[0])})."
    )
