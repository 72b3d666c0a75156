"""Reading a Parquet file for the command line: every column named once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from dhag.exceptions import InputError

__all__ = ["read_parquet", "repeated_names"]


def read_parquet(path: Path) -> pd.DataFrame:
    """The table of the Parquet file ``path``.

    A file that names a column twice (pyarrow writes one; pandas would not) is refused naming it, as a
    CSV's header is, rather than with pyarrow's message, which lists the file's schema line by line.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pd.DataFrame({"a": [1.5, 2.0], "b": [3, 4]}).to_parquet(p)
    >>> read_parquet(Path(p)).to_numpy().tolist()
    [[1.5, 3.0], [2.0, 4.0]]
    """
    repeated = repeated_names(pq.read_schema(path).names)
    if repeated:
        raise InputError(
            f"Cannot read {str(path)!r}: it names {repeated} more than once; name each column once."
        )
    return pd.read_parquet(path)


def repeated_names(names: Sequence[str], limit: int = 5) -> str:
    """The names that ``names`` holds more than once, quoted (the first ``limit``); empty if none.

    >>> repeated_names(["a", "b", "a"])
    "'a'"
    """
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    shown = ", ".join(map(repr, repeated[:limit]))
    return shown + (f" and {len(repeated) - limit} more" if len(repeated) > limit else "")
