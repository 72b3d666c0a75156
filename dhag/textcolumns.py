"""The columns of a training file that hold words and are declared neither categorical nor ids, named
together: ``fit`` refuses the first it meets, and a file with a time, an asset and a zone as text took
three runs of ``dhag train`` to learn what to declare."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd

from dhag.celltext import plain_number, separated_number, time_text
from dhag.infotext import suggested_option

__all__ = ["text_columns_refusal", "undeclared_text"]

# As the preprocessor's rule for a column of categories that identifies rows: over this many distinct
# values, and more than half the rows.
_FEW_CATEGORIES = 100


def undeclared_text(frame: pd.DataFrame, declared: Collection[str] = ()) -> list[str]:
    """The columns of ``frame`` not ``declared`` most of whose values are words: not numbers, nor
    numbers written with separators (a column of numbers with a few bad cells is no such column: its
    refusal names the cells).

    >>> frame = pd.DataFrame({"ts": ["2026-01-01 10:00"] * 2, "flow": [1.5, 2.0], "level": ["3", "x"]})
    >>> undeclared_text(frame), undeclared_text(frame, declared=["ts"])
    (['ts'], [])
    """
    found = []
    for name in frame.columns:
        column = frame[name]
        if str(name) in declared or pd.api.types.is_numeric_dtype(column) or column.dtype == bool:
            continue
        values = column.dropna()
        words = sum(isinstance(v, str) and not (plain_number(v) or separated_number(v)) for v in values)
        if words and words > len(values) / 2:
            found.append(str(name))
    return found


def text_columns_refusal(
    frame: pd.DataFrame, names: list[str], *, ids: Sequence[str] = (), categorical: Sequence[str] = ()
) -> str:
    """The refusal of the text columns ``names`` of ``frame``: each with a value of it, and the options
    that declare them, times and columns whose values identify rows as ids and the others as categories,
    beside the ``ids`` and ``categorical`` columns already declared (an option given twice keeps the
    last).

    >>> frame = pd.DataFrame({"ts": ["2026-01-01 10:00", "2026-01-01 10:01"], "zone": ["north", "south"]})
    >>> said = text_columns_refusal(frame, ["ts", "zone"])
    >>> said[:67]
    "Columns 'ts' and 'zone' hold text, and a feature must hold numbers:"
    >>> said[67:].split(". ")[0]
    " 'ts' (times, as '2026-01-01 10:00'), 'zone' (as 'north')"
    >>> said.split("; ")[-1]
    'judging by their values: --id-columns ts --categorical zone.'
    """
    ids, categories, said = list(ids), list(categorical), []
    for name in names:
        values = frame[name].dropna()
        words = [v for v in values if isinstance(v, str) and not plain_number(v)]
        times = all(time_text(v) for v in words)
        if times or values.nunique() > max(_FEW_CATEGORIES, len(frame) / 2):
            ids.append(name)
        else:
            categories.append(name)
        said.append(f"{name!r} ({'times, ' if times else ''}as {_cut(words[0])})")
    listed = ", ".join(map(repr, names[:-1])) + f" and {names[-1]!r}"
    options = [
        *([suggested_option("--id-columns", ids)] if ids else []),
        *([suggested_option("--categorical", categories)] if categories else []),
    ]
    return (
        f"Columns {listed} hold text, and a feature must hold numbers: {', '.join(said)}. Declare the "
        "columns of categories with --categorical and leave out those that identify rows, and times, with "
        f"--id-columns; judging by their values: {' '.join(options)}."
    )


def _cut(value: str, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a cell may hold a document)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
