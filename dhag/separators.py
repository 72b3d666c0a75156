"""A CSV that another separator (``;``, tab, ``|``) splits into a table: read with ``,`` it would be
one column of text, or rows wider than the header. It is refused saying the separator, and the decimal
comma that goes with ``;`` in a spreadsheet's export under a European locale (``1,5;20,1``)."""

from __future__ import annotations

import csv
import gzip
import itertools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dhag.celltext import plain_number
from dhag.exceptions import InputError

__all__ = ["other_separator", "separated_otherwise"]

_SEPARATORS = (";", "\t", "|")
# How many records of a file are split by another separator to tell a table of it from one column.
_SEPARATOR_SAMPLE = 50


def other_separator(path: Path, head: pd.DataFrame, declared: Sequence[str]) -> None:
    """Refuse a file whose header and first row are one field each that another separator splits alike
    (``a;b;mode`` over ``1.5;2;run``): read as CSV it would be one column of text.

    A one-column file of text may hold that separator too (categories ``north;3`` under ``zone;sector``):
    it is read when its column is among the ``declared`` text columns (the user named it, separator and
    all), or when the separator does not split its first rows into the header's number of fields.
    """
    if head.shape != (2, 1):
        return
    header, first = str(head.iloc[0, 0]), str(head.iloc[1, 0])
    if header in declared:
        return
    for sep in _SEPARATORS:
        fields = header.count(sep) + 1
        if fields == 1 or first.count(sep) != fields - 1:
            continue
        rows = _alike(_records(path, sep), fields)
        if rows is not None:
            raise _refusal(path, sep, rows, one_column=header)


def separated_otherwise(path: Path) -> InputError | None:
    """The refusal of ``path``, whose rows read with ``,`` are wider than its header, when another
    separator splits its header and first rows alike into a table (``flow;temp`` over ``1,5;20,1``:
    decimal commas make each row wider); None otherwise."""
    for sep in _SEPARATORS:
        records = _records(path, sep)
        if not records or len(records[0][1]) == 1:
            continue
        rows = _alike(records, len(records[0][1]))
        if rows is not None:
            return _refusal(path, sep, rows, one_column=None)
    return None


def _refusal(
    path: Path, sep: str, rows: list[tuple[int, list[str]]], *, one_column: str | None
) -> InputError:
    """Why ``path``, its data ``rows`` (line, fields) split by ``sep``, is not read, and how to write it;
    ``one_column``: the header as one column's name, said how to read it so when no column is numbers."""
    comma = next(((line, value) for line, row in rows for value in row if _decimal_comma(value)), None)
    if comma is not None:
        line, value = comma
        return InputError(
            f"Cannot read {str(path)!r}: its header and rows are separated by {sep!r}, with ',' as the "
            f"decimal mark ({value!r} at line {line}), as a spreadsheet set to a European locale exports "
            "them; dhag reads comma-separated values: write the file with ',' between fields and '.' as "
            "the decimal mark (a spreadsheet takes both from the computer's region settings), or convert "
            f"it with pandas: pd.read_csv(path, sep={sep!r}, decimal=',').to_csv(new_path, index=False)."
        )
    fields = len(rows[0][1]) if rows else 0
    numbers = any(all(plain_number(row[i]) for _, row in rows) for i in range(fields))
    note = (
        ""
        if numbers or one_column is None
        else f" A file of one column named {one_column!r} is read as such when that column is declared "
        "(dhag train --categorical or --id-columns)."
    )
    return InputError(
        f"Cannot read {str(path)!r}: its header and rows are separated by {sep!r}; dhag reads "
        "comma-separated values: write the file with ',' between fields, or convert it with pandas: "
        f"pd.read_csv(path, sep={sep!r}).to_csv(new_path, index=False).{note}"
    )


def _records(path: Path, sep: str) -> list[tuple[int, list[str]]]:
    """The first non-blank records of ``path`` split by ``sep`` (quotes as a CSV's), each with the
    line it starts on; none when a field is past the csv module's limit (128 KiB)."""
    found: list[tuple[int, list[str]]] = []
    with (gzip.open if path.suffix.lower() == ".gz" else open)(
        path, "rt", encoding="utf-8-sig", newline=""
    ) as fh:
        reader, line = csv.reader(fh, delimiter=sep), 1
        try:
            for record in itertools.islice(reader, _SEPARATOR_SAMPLE * 2):
                if record:
                    found.append((line, record))
                    if len(found) == _SEPARATOR_SAMPLE:
                        break
                line = reader.line_num + 1
        except csv.Error:  # no table of sensor values
            return []
    return found


def _alike(records: list[tuple[int, list[str]]], fields: int) -> list[tuple[int, list[str]]] | None:
    """The data rows among a file's first ``records`` (the header first) when each holds ``fields``
    fields; None when one holds another number, or there are none."""
    if not records or any(len(r) != fields for _, r in records):
        return None
    return records[1:]


def _decimal_comma(text: str) -> bool:
    """``text`` is a number written with a decimal comma (``1,5``, ``-20,25``)."""
    return text.count(",") == 1 and not plain_number(text) and plain_number(text.replace(",", "."))
