"""Where in a data file a row named in an error lies: the library counts rows from 0 as a table's index
does, the header not counted, while a person opening the CSV in an editor counts lines from 1."""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["with_row_note", "written_cell"]

_ROW = re.compile(r"\brow (\d+)\b")


def with_row_note(message: str, data: Path | None, *, written: str | None = None) -> str:
    """``message`` with, after each row it names by index, where that row lies in ``data``: in a CSV
    its line (the header is line 1), otherwise its place among the file's rows; the file is named
    after the first, and followed by what the cell there holds as ``written`` (see :func:`written_cell`).

    >>> with_row_note("Feature 'temp' has text at row 4. Declare it.", Path("readings.csv"))
    "Feature 'temp' has text at row 4, line 6 of readings.csv. Declare it."
    >>> with_row_note("Feature 'b' has 1 NaN (first at row 0).", Path("readings.parquet"))
    "Feature 'b' has 1 NaN (first at row 0, the first row of readings.parquet)."
    >>> with_row_note("Cells that are not numbers ('?' at row 2; 'x' at row 9).", Path("r.csv"))
    "Cells that are not numbers ('?' at row 2, line 4 of r.csv; 'x' at row 9, line 11)."
    >>> with_row_note("Feature 'b' has 1 NaN (first at row 3).", Path("r.csv"), written="n/a")
    "Feature 'b' has 1 NaN (first at row 3, line 5 of r.csv, which reads 'n/a')."
    >>> with_row_note("no row named here", Path("readings.csv"))
    'no row named here'
    """
    if data is None:
        return message
    name = data.name
    csv = name.lower().endswith((".csv", ".csv.gz"))
    named: list[bool] = []  # whether the file has been named: after the first row only
    rows = [int(found.group(1)) for found in _ROW.finditer(message)]
    lines = _first_lines(data, max(rows)) if csv and rows else {}

    def where(found: re.Match[str]) -> str:
        row = int(found.group(1))
        # Past the file's rows or unreadable now: one line a row after the header, as most files are.
        place = f"line {lines.get(row, row + 2):,}" if csv else f"the {_ordinal(row + 1)} row"
        of = "" if named else f" of {name}"
        if not named and written is not None:
            of += f", which reads {written!r}" if written else ", which is empty"
        named.append(True)
        return f"{found.group(0)}, {place}{of}"

    return _ROW.sub(where, message)


def written_cell(data: Path | None, cell: tuple[str, int] | None) -> str | None:
    """The text of a CSV ``data`` in the column and row (counted from 0, the header not counted) of
    ``cell``, as written: what pandas read as NaN may be an empty cell or a word (``n/a``, ``NA``).
    None for another kind of file, or one that cannot be read so; blank lines are skipped as pandas
    skips them, quoted line breaks kept within their field.
    """
    if data is None or cell is None or not data.name.lower().endswith((".csv", ".csv.gz")):
        return None
    column, row = cell
    try:
        with _open_text(data) as fh:
            records = (fields for _, fields in _records(fh))
            header = next(records)
            found = next(itertools.islice(records, row, row + 1))
        return found[header.index(column)]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, StopIteration, ValueError, IndexError):
        return None


def _open_text(data: Path) -> TextIO:
    return (gzip.open if data.suffix.lower() == ".gz" else open)(data, "rt", encoding="utf-8-sig", newline="")


def _records(fh: TextIO) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each record of a CSV that pandas reads, the header first: ``line`` is
    where the record starts, counted from 1 as an editor shows it. Blank lines (empty, or spaces
    only), which pandas skips, are left out but counted; a quoted line break keeps its record going."""
    raw: list[str] = []

    def lines() -> Iterator[str]:
        for text in fh:
            raw.append(text)
            yield text

    reader = csv.reader(lines())
    read = 0
    for fields in reader:
        start, read = read + 1, reader.line_num
        if "".join(raw).strip():
            yield start, fields
        raw.clear()


def _first_lines(data: Path, last: int) -> dict[int, int]:
    """The line each row of the CSV ``data`` up to ``last`` starts on (rows counted from 0, the header
    not counted), read from the file; empty when it cannot be read so."""
    try:
        with _open_text(data) as fh:
            records = itertools.islice(_records(fh), 1, last + 2)  # the header is no row
            return {row: line for row, (line, _) in enumerate(records)}
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError):
        return {}


_WORDS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _ordinal(n: int) -> str:
    """1 -> "first" ... 10 -> "tenth", then 11th, 22nd, 103rd.

    >>> [_ordinal(n) for n in (1, 10, 11, 12, 13, 21, 22, 103, 1_000_000)]
    ['first', 'tenth', '11th', '12th', '13th', '21st', '22nd', '103rd', '1,000,000th']
    """
    if n <= len(_WORDS):
        return _WORDS[n - 1]
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"
