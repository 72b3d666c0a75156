"""Reading a Parquet file for the command line: every column named once, decimals as numbers, a named
index as a column where the command names it."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dhag.csvhead import not_parquet
from dhag.exceptions import InputError
from dhag.infotext import suggested_option

__all__ = ["index_as_columns", "read_parquet", "repeated_names"]

logger = logging.getLogger("dhag")


def read_parquet(path: Path, text_columns: Sequence[str] = (), named: Collection[str] = ()) -> pd.DataFrame:
    """The table of the Parquet file ``path``.

    A file that names a column twice (pyarrow writes one; pandas would not) is refused naming it, as a
    CSV's header is, rather than with pyarrow's message, which lists the file's schema line by line.
    A decimal column (a database's NUMERIC, which pandas reads as Python ``Decimal`` objects) holds
    numbers, and is read as floats, unless it is among the ``text_columns`` (declared categorical, or
    an id): those are kept as read. A named index that pandas stored (``df.to_parquet`` of a frame
    indexed by a time) is read as a column where it is one of the columns ``named`` by the command, and
    left out with a warning otherwise (:func:`index_as_columns`).

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> from decimal import Decimal
    >>> pd.DataFrame({"a": [1.5, 2.0], "b": [Decimal("3.25"), Decimal("4")]}).to_parquet(p)
    >>> read_parquet(Path(p)).to_numpy().tolist()
    [[1.5, 3.25], [2.0, 4.0]]
    """
    wrong = not_parquet(path)
    if wrong:
        raise InputError(f"Cannot read {str(path)!r}: {wrong}.")
    schema = pq.read_schema(path)
    repeated = repeated_names(schema.names)
    if repeated:
        raise InputError(
            f"Cannot read {str(path)!r}: it names {repeated} more than once; name each column once."
        )
    frame, left_out = index_as_columns(
        pd.read_parquet(path), path, {*map(str, named), *map(str, text_columns)}
    )
    if left_out:
        keep = (
            suggested_option("--id-columns", left_out[0])
            if len(left_out) == 1
            else "--id-columns naming them"
        )
        logger.warning(
            "%r holds an index named %s (pandas' to_parquet of a frame indexed by it): left out, as fit "
            "and scoring leave out a DataFrame's index; %s carries it beside the scores (to train on it, "
            "store it as a column: df.reset_index().to_parquet(...))",
            str(path),
            " and ".join(map(repr, left_out)),
            keep,
        )
    text = {str(c) for c in text_columns}
    for field in schema:
        if pa.types.is_decimal(field.type) and field.name in frame.columns and field.name not in text:
            frame[field.name] = frame[field.name].astype("float64")
    return frame


def index_as_columns(
    frame: pd.DataFrame, path: Path, named: Collection[str]
) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` (as ``pd.read_parquet`` read ``path``) with each level of its index that is among the
    columns a command ``named`` (an id, a label, a feature) as a column, first, in the index's order, as
    the CSV of the frame pandas wrote holds it; and the names of the levels left out, for the caller to
    say (as fit and scoring leave out a DataFrame's index). An unnamed index (row numbers) is left as
    it is. A level named as a column is refused naming it
    (:class:`~dhag.exceptions.InputError`): one of the two would be lost.

    >>> indexed = pd.DataFrame({"flow": [1.5, 2.0]}, index=pd.Index([10, 20], name="reading"))
    >>> frame, left_out = index_as_columns(indexed, Path("t.parquet"), named={"reading"})
    >>> frame.to_dict("list"), left_out
    ({'reading': [10, 20], 'flow': [1.5, 2.0]}, [])
    >>> index_as_columns(indexed, Path("t.parquet"), named=())[1]
    ['reading']
    """
    levels = [str(name) for name in frame.index.names if name is not None]
    if not levels:
        return frame, []
    if clash := [name for name in levels if name in {str(c) for c in frame.columns}]:
        raise InputError(
            f"Cannot read {str(path)!r}: its index (as pandas stored it) is named {clash[0]!r}, as a column "
            "is; rename one of them (df.rename_axis('new_name').to_parquet(...)), or leave the index out "
            "(df.to_parquet(..., index=False))."
        )
    left_out = [name for name in levels if name not in named]
    frame.index = frame.index.set_names([str(n) if n is not None else None for n in frame.index.names])
    kept = [name for name in levels if name in named]
    frame = frame.reset_index(level=kept) if kept else frame
    return frame.reset_index(drop=True), left_out  # a level left out (not named, or no name): no column


def repeated_names(names: Sequence[str], limit: int = 5) -> str:
    """The names that ``names`` holds more than once, quoted (the first ``limit``); empty if none.

    >>> repeated_names(["a", "b", "a"])
    "'a'"
    """
    repeated = sorted(n for n, times in Counter(names).items() if times > 1)
    shown = ", ".join(map(repr, repeated[:limit]))
    return shown + (f" and {len(repeated) - limit} more" if len(repeated) > limit else "")
