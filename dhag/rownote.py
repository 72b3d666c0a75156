"""Where in a data file a row named in an error lies: the library counts rows from 0 as a table's index
does, the header not counted, while a person opening the CSV in an editor counts lines from 1."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["with_row_note"]

_ROW = re.compile(r"\brow (\d+)\b")


def with_row_note(message: str, data: Path | None) -> str:
    """``message`` with, after each row it names by index, where that row lies in ``data``: in a CSV
    its line (the header is line 1), otherwise its place among the file's rows; the file is named
    after the first.

    >>> with_row_note("Feature 'temp' has text at row 4. Declare it.", Path("readings.csv"))
    "Feature 'temp' has text at row 4, line 6 of readings.csv. Declare it."
    >>> with_row_note("Feature 'b' has 1 NaN (first at row 0).", Path("readings.parquet"))
    "Feature 'b' has 1 NaN (first at row 0, the first row of readings.parquet)."
    >>> with_row_note("Cells that are not numbers ('?' at row 2; 'x' at row 9).", Path("r.csv"))
    "Cells that are not numbers ('?' at row 2, line 4 of r.csv; 'x' at row 9, line 11)."
    >>> with_row_note("no row named here", Path("readings.csv"))
    'no row named here'
    """
    if data is None:
        return message
    name = data.name
    csv = name.lower().endswith((".csv", ".csv.gz"))
    named: list[bool] = []  # whether the file has been named: after the first row only

    def where(found: re.Match[str]) -> str:
        row = int(found.group(1))
        place = f"line {row + 2:,}" if csv else f"the {_ordinal(row + 1)} row"
        of = "" if named else f" of {name}"
        named.append(True)
        return f"{found.group(0)}, {place}{of}"

    return _ROW.sub(where, message)


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
