"""A table given as a mapping of column name -> values: its columns as numpy arrays, refused where they are
no columns of one table (single values, other shapes or lengths); and the refusal of masked cells, which
a mapping's columns and a 2-D masked array may hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dhag.exceptions import InputError
from dhag.hostarray import host_array

__all__ = ["mapping_columns", "refuse_masked"]


def mapping_columns(X: Mapping[Any, Any]) -> dict[str, np.ndarray]:
    """The columns of a mapping input by name (as text), as numpy arrays of one length.

    >>> mapping_columns({"flow": [1.0, 2.0], 3: [4, 5]})["3"].tolist()
    [4, 5]
    """
    refuse_masked({str(c): v for c, v in X.items()})
    data = {str(c): np.asarray(host_array(v)) for c, v in X.items()}
    _refuse_uneven_columns(data)
    return data


def refuse_masked(columns: Mapping[str, Any]) -> None:
    """Refuse the masked cells of numpy masked arrays (netCDF4 reads a variable with gaps as one): they
    are missing values, whose data underneath (a fill value, 9.97e36) np.asarray would pass on."""
    for name, col in columns.items():
        masked = np.ma.getmaskarray(col) if isinstance(col, np.ma.MaskedArray) else None
        if masked is not None and masked.any():
            row = int(np.argmax(masked))
            raise InputError(
                f"Feature {name!r} has {int(masked.sum())} missing value(s) (first at row {row}): masked "
                "in a masked array, whose data there is no reading; fill them, X.filled(value), or drop "
                "their rows.",
                cell=(name, row),
            )


def _refuse_uneven_columns(data: dict[str, np.ndarray]) -> None:
    """Refuse a mapping whose values are not 1-D columns of one length, naming what they are: single
    values (one reading, as a record's values) are one row, which a frame makes a table of."""
    from dhag.columns import _preview  # which imports this module

    if data and all(v.ndim == 0 for v in data.values()):
        raise InputError(
            f"A mapping input holds one column per feature. Got {len(data)} single values "
            f"({_preview(data, limit=3)}): one row, which pd.DataFrame([row]) makes a table of (or give "
            "each feature a list of its values)."
        )
    odd = next((name for name, v in data.items() if v.ndim != 1), None)
    if odd is not None:
        raise InputError(f"A mapping input must hold 1-D columns: {odd!r} has shape {data[odd].shape}.")
    lengths = {name: len(v) for name, v in data.items()}
    first = next(iter(lengths), None)
    other = next((name for name, n in lengths.items() if n != lengths[first]), None)
    if other is not None:
        raise InputError(
            f"A mapping input must hold columns of equal length: {first!r} holds {lengths[first]} values, "
            f"{other!r} {lengths[other]}."
        )
