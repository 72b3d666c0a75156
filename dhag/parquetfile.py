"""Reading a Parquet file for the command line: every column named once, decimals as numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dhag.exceptions import InputError

__all__ = ["read_parquet", "repeated_names"]


def read_parquet(path: Path, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The table of the Parquet file ``path``.

    A file that names a column twice (pyarrow writes one; pandas would not) is refused naming it, as a
    CSV's header is, rather than with pyarrow's message, which lists the file's schema line by line.
    A decimal column (a database's NUMERIC, which pandas reads as Python ``Decimal`` objects) holds
    numbers, and is read as floats, unless it is among the ``text_columns`` (declared categorical, or
    an id): those are kept as read.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> from decimal import Decimal
    >>> pd.DataFrame({"a": [1.5, 2.0], "b": [Decimal("3.25"), Decimal("4")]}).to_parquet(p)
    >>> read_parquet(Path(p)).to_numpy().tolist()
    [[1.5, 3.25], [2.0, 4.0]]
    """
    schema = pq.read_schema(path)
    repeated = repeated_names(schema.names)
    if repeated:
        raise InputError(
            f"Cannot read {str(path)!r}: it names {repeated} more than once; name each column once."
        )
    frame = pd.read_parquet(path)
    text = {str(c) for c in text_columns}
    for field in schema:
        if pa.types.is_decimal(field.type) and field.name in frame.columns and field.name not in text:
            frame[field.name] = frame[field.name].astype("float64")
    return frame


def repeated_names(names: Sequence[str], limit: int = 5) -> str:
    """The names that ``names`` holds more than once, quoted (the first ``limit``); empty if none.

    >>> repeated_names(["a", "b", "a"])
    "'a'"
    """
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    shown = ", ".join(map(repr, repeated[:limit]))
    return shown + (f" and {len(repeated) - limit} more" if len(repeated) > limit else "")
