"""True/False given for a numeric feature: the numbers 1 and 0, as at ``fit``, where training saw them.

A column of bools trains as 0 and 1 (numpy's and pandas' own reading of them), and a model trained so
scores the column's bools, or its 0 and 1, alike. A feature whose training values went beyond 0 to 1
(a flow, a temperature) cannot be what a column of True/False measures: such a column is a mask or a
comparison handed over by mistake (``frame["flow"] > 0``), and scoring it as 0 and 1 would give a score
that means nothing. It is refused naming the feature and what training saw there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dhag.exceptions import InputError

__all__ = ["refuse_flags_for_numbers"]


def _all_bools(col: np.ndarray) -> bool:
    if col.dtype.kind == "b":
        return True
    return col.dtype.kind == "O" and col.size > 0 and set(map(type, col.tolist())) <= {bool, np.bool_}


def refuse_flags_for_numbers(name: str, col: np.ndarray, training_range: Sequence[float] | None) -> None:
    """Raise :class:`InputError` when ``col``, the values given for the numeric feature ``name``, holds
    only True/False while training saw values outside [0, 1] there (``training_range``: its minimum and
    maximum; None, an artifact written before ranges were kept: nothing to check against).

    >>> refuse_flags_for_numbers("on", np.array([True, False]), [0.0, 1.0])
    >>> refuse_flags_for_numbers("flow", np.array([True, False]), [-2.5, 40.0])
    Traceback (most recent call last):
    ...
    dhag.exceptions.InputError: Feature 'flow' holds True/False, but training saw numbers from -2.5 to 40 ...
    """
    if training_range is None or not _all_bools(col):
        return
    low, high = training_range
    if low >= 0.0 and high <= 1.0:
        return
    raise InputError(
        f"Feature {name!r} holds True/False, but training saw numbers from {low:.6g} to {high:.6g} there "
        "(a bool is the number 1 or 0): give the feature's values, not a comparison of them; a flag "
        f"trained as such takes True/False. Got {col[:3].tolist()!r} in its first rows."
    )
