"""What scoring refuses: a preprocessed matrix the network cannot take, and rows it could not score.

:meth:`DHAG.score_matrix <dhag.estimator.DHAG.score_matrix>` takes a matrix that skipped the
preprocessing's checks (the hot path of a streaming scorer), so its shape and values are checked here;
and a NaN score is never above the threshold, so a row scored NaN is refused rather than reported as
normal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from dhag.exceptions import DHAGError, InputError
from dhag.hostarray import host_array
from dhag.infotext import counted

__all__ = ["checked_matrix", "refuse_unscored"]


def checked_matrix(matrix: np.ndarray, width: int, names: Sequence[str] = ()) -> np.ndarray:
    """``matrix`` as float32, refused with :class:`InputError` unless it holds numbers only, all finite
    in float32, in ``width`` columns. A finite value past float32's range (a float64 1e39) is refused as
    such, naming its row and its column (from ``names``, the model's features, where given).

    >>> checked_matrix([[1, 2]], 2).dtype
    dtype('float32')
    >>> checked_matrix([[1.0, float("nan")]], 2)
    Traceback (most recent call last):
    ...
    dhag.exceptions.InputError: 1 row holds NaN or infinite values (first: row 0).
    """
    given = host_array(matrix)
    try:
        with np.errstate(over="ignore"):  # a value past float32 becomes inf: refused below, by name
            matrix = np.asarray(given, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"A preprocessed matrix must hold numbers: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise InputError(f"Expected a preprocessed matrix with {width} columns. Got shape {matrix.shape}.")
    if not np.isfinite(matrix).all():
        _refuse_beyond_float32(given, matrix, names)
        rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        raise InputError(f"{_rows_hold(rows.size)} NaN or infinite values (first: row {int(rows[0])}).")
    return matrix


def _refuse_beyond_float32(given: object, matrix: np.ndarray, names: Sequence[str]) -> None:
    """Refuse the finite values (as given, in float64) that only the cast to float32 made infinite."""
    try:
        wide = np.asarray(given, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return  # what float64 cannot hold is no finite value to name here
    beyond = np.isfinite(wide) & ~np.isfinite(matrix)
    if not beyond.any():
        return
    rows = np.flatnonzero(beyond.any(axis=1))
    row, column = int(rows[0]), int(np.argmax(beyond[rows[0]]))
    name = repr(names[column]) if len(names) == matrix.shape[1] else f"column {column}"
    raise InputError(
        f"{_rows_hold(rows.size)} values that are finite but beyond float32, which the model's networks "
        f"take (at most {float(np.finfo(np.float32).max):.4g} in size): first row {row}, feature {name} "
        f"({wide[row, column]:.4g}); rescale them."
    )


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
            f"The model's weights are not finite ({counted(len(broken), 'tensor')}, first: {broken[0]}): it "
            "scores rows NaN; load or train another model."
        )
    raise InputError(
        f"{counted(overflowed.size, 'row')} too large for the model to score: the network overflows "
        f"float32 on {'it' if overflowed.size == 1 else 'them'} (first: row {int(overflowed[0])})."
    )


def _rows_hold(n: int) -> str:
    """``n`` rows and the verb they take: '1 row holds', '2 rows hold'."""
    return f"{counted(n, 'row')} {'holds' if n == 1 else 'hold'}"
