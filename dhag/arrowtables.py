"""pyarrow tables (``pa.Table``, ``pa.RecordBatch``, as ``pq.read_table`` and Arrow-based tools give
them) read by their column names, as a pandas frame of them is: numpy would read one as an unnamed
array, its columns by position (in another order than the model's, scored as the wrong features)."""

from __future__ import annotations

from typing import Any

__all__ = ["arrow_as_frame", "is_arrow_table"]


def is_arrow_table(X: Any) -> bool:
    """Whether ``X`` is a pyarrow ``Table`` or ``RecordBatch``: named columns, no pandas frame."""
    return all(hasattr(X, a) for a in ("column_names", "schema", "to_pandas")) and not hasattr(X, "dtypes")


def arrow_as_frame(X: Any) -> Any:
    """``X`` as the pandas frame of its columns where it is a pyarrow table (a dictionary column becomes
    pandas' category dtype, which ``fit`` asks to be declared); anything else as given.

    >>> import pyarrow as pa
    >>> arrow_as_frame(pa.table({"flow": [1.5], "zone": ["a"]})).to_dict("list")
    {'flow': [1.5], 'zone': ['a']}
    """
    return X.to_pandas() if is_arrow_table(X) else X
