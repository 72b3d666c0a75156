"""Where a row of a history file is, as a person finds it, for the refusals of ``models train``
(:func:`pipeline.historyfile.read_history`): "row N" of a Parquet file, "line N" of a CSV, and the CSV's
first row wider than its header."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["HistoryError", "Places", "wide_hint"]


class HistoryError(ValueError):
    """The history file breaks the contract; the message names the column, the line and what to do."""


class Places:
    """Where a row of the raw frame is, as a person finds it: "row N" of a Parquet file, or "line N" of a
    CSV, the physical line its record starts on. A quoted field may hold line breaks and blank lines are
    skipped, so a row's count says little: when a refusal names a line, the CSV is read again with the
    csv module, up to that row (the rest of the file is never read twice)."""

    def __init__(self, path: Path | None = None, sep: str = ",") -> None:
        self.path, self.sep = path, sep

    def __call__(self, label: int) -> str:
        """Where the frame's row ``label`` is (0: the first row after the header)."""
        if self.path is None:
            return f"row {label + 1}"
        rows = (start for record, start in self._records() if not _blank(record))
        try:
            for count, start in enumerate(rows, start=-1):  # the header's is -1
                if count == label:
                    return f"line {start}"
        except csv.Error:  # a field over the csv module's size limit: the count is all there is
            pass
        return f"line {label + 2}"

    def record_line(self, number: int) -> int:
        """The physical line record ``number`` starts on (1-based, blank lines counted as records, as
        pandas counts its "lines")."""
        try:
            for count, (_, start) in enumerate(self._records(), start=1):
                if count == number:
                    return start
        except csv.Error:
            pass
        return number

    def wider_row(self, width: int) -> tuple[int, int] | None:
        """The line of the first row with more than ``width`` fields (not counting empty ones past
        ``width``), and how many it has; None when there is none; refused when the csv module cannot tell."""
        rows = ((record, start) for record, start in self._records() if not _blank(record))
        try:
            next(rows, None)  # the header
            for record, start in rows:
                if len(record) > width and any(f.strip() for f in record[width:]):
                    return start, len(record)
        except csv.Error:
            raise HistoryError(
                f"cannot read it as CSV ({self.sep!r} between fields): a row is wider than its header (a"
                f" field over {csv.field_size_limit()} characters hides its line){wide_hint(self.sep)}"
            ) from None
        return None

    def _records(self) -> Iterator[tuple[list[str], int]]:
        """Each record of the CSV and the physical line it starts on."""
        assert self.path is not None
        with self.path.open(encoding="utf-8-sig", newline="") as f:
            reader, start = csv.reader(f, delimiter=self.sep), 1
            for record in reader:
                yield record, start
                start = reader.line_num + 1


def _blank(record: Sequence[str]) -> bool:
    """A record pandas skips: an empty line, or one of spaces."""
    return not record or (len(record) == 1 and not record[0].strip())


def wide_hint(sep: str) -> str:
    """What makes a row wider than its header."""
    hint = f": a {sep!r} inside a field must be quoted"
    return hint + (", and numbers need '.' as the decimal point (12.5, not 12,5)" if sep == "," else "")
