"""What the first bytes of a CSV tell before pandas reads it.

Its encoding, where it is not UTF-8 but UTF-16 or UTF-32, as Excel's "Unicode text" and Windows
PowerShell's ``Out-File`` write: without its byte-order mark such a file decodes as UTF-8 holding NUL
bytes, and would be read as columns named ``'f\\x00l\\x00o\\x00w'``. And Excel's first line ``sep=;``,
naming the separator, which pandas would take for the header. And a file of another format given a
CSV's name (an Excel workbook, a Parquet file, a gzip-compressed CSV named .csv), or a ``.csv.gz`` that
is no gzip file, which would be refused as text that is not UTF-8, or by gzip's "Not a gzipped file";
and a CSV (or another format) named as a Parquet file, which pyarrow refuses as a corrupted one.
"""

from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path

from dhag.celltext import plain_number
from dhag.exceptions import InputError

__all__ = [
    "check_head",
    "lines_above_header",
    "not_parquet",
    "other_format",
    "separator_line",
    "wide_encoding",
]

_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)

# The first bytes of the files a CSV is mistaken for: what each is, and what to do.
_FORMATS = (
    (b"PK\x03\x04", "a zip archive (an Excel workbook, .xlsx, is one)", "save the sheet as CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)", "save the sheet as CSV UTF-8"),
    (b"PAR1", "a Parquet file", "name it .parquet"),
    (b"\x1f\x8b", "a gzip-compressed file", "name it .csv.gz"),
)


def check_head(path: Path) -> None:
    """Refuse the CSV ``path`` when it is a file of another format (:func:`other_format`), its first
    bytes are UTF-16 or UTF-32 text, or Excel's separator line, saying what to do."""
    other = other_format(path)
    if other:
        raise InputError(f"Cannot read {str(path)!r}: {other}.")
    encoding = wide_encoding(path)
    if encoding:
        raise InputError(
            f"Cannot read {str(path)!r}: it is not UTF-8 text but {encoding}; save it as UTF-8 (Excel: "
            "CSV UTF-8)."
        )
    told = separator_line(path)
    if told:
        sep = told[4]
        write = (
            ""
            if sep == ","
            else f": its fields are separated by {sep!r}; write the file with ',' between fields"
        )
        raise InputError(
            f"Cannot read {str(path)!r}: its first line, {told!r}, is Excel's line naming the separator, "
            f"not a header; delete that line{write}."
        )


def wide_encoding(path: Path) -> str | None:
    """``path``'s encoding when it is UTF-16 or UTF-32, with what tells it; None for any other file.

    >>> import tempfile, os
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes("a,b\\n1,2\\n".encode("utf-16"))
    >>> wide_encoding(p)
    "UTF-16 (it starts with UTF-16's byte-order mark, bytes 0xff 0xfe)"
    >>> _ = p.write_bytes("a,b\\n1,2\\n".encode("utf-16-le"))
    >>> wide_encoding(p)
    'UTF-16 (without a byte-order mark: half the bytes of its first line are NUL)'
    >>> _ = p.write_bytes(b"a,b\\n1,2\\n")
    >>> wide_encoding(p) is None
    True
    """
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, EOFError):
        return None
    for mark, name in _MARKS:
        if head.startswith(mark):
            shown = " ".join(f"0x{b:02x}" for b in mark)
            return f"{name} (it starts with {name}'s byte-order mark, bytes {shown})"
    line = head.split(b"\n", 1)[0]
    share = line.count(b"\x00") / len(line) if line else 0.0
    if share >= 0.7:  # ASCII text in UTF-32: three NUL bytes to a character
        return "UTF-32 (without a byte-order mark: three in four bytes of its first line are NUL)"
    if share >= 0.4:  # and one in UTF-16
        return "UTF-16 (without a byte-order mark: half the bytes of its first line are NUL)"
    return None


def separator_line(path: Path) -> str | None:
    """``path``'s first line when it is Excel's naming the separator (``sep=;``); None otherwise.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("sep=;\\na;b\\n1;2\\n")
    >>> separator_line(p)
    'sep=;'
    """
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(
            path, "rt", encoding="utf-8-sig", errors="replace", newline=""
        ) as fh:
            first = fh.readline(64).rstrip("\r\n")
    except (OSError, EOFError):
        return None
    return first if len(first) == 5 and first.lower().startswith("sep=") else None


def _head(path: Path) -> bytes | None:
    """The first 32 bytes of ``path``, enough for every signature looked for; None: it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(32)
    except OSError:
        return None


def other_format(path: Path) -> str | None:
    """What the file ``path``, named as a CSV (``.csv``, ``.csv.gz``), is where its first bytes say it is
    another format, and what to do; None for any other file.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "rows.csv").write_bytes(b"PAR1...")
    >>> other_format(folder / "rows.csv")
    'it is a Parquet file, not CSV text: name it .parquet'
    >>> _ = (folder / "rows.csv.gz").write_text("flow,temp\\n1.5,20\\n")
    >>> other_format(folder / "rows.csv.gz")
    "it is not gzip-compressed (it starts with 'flow,temp\\\\n1.5,20\\\\n'): name it .csv"
    """
    head = _head(path)
    if head is None:
        return None
    compressed = path.suffix.lower() == ".gz"
    for magic, kind, fix in _FORMATS:
        if head.startswith(magic):
            return None if compressed and kind.startswith("a gzip") else f"it is {kind}, not CSV text: {fix}"
    if not compressed or not head:
        return None
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")[:20]
    readable = all(c.isprintable() or c in "\n\r\t" for c in text)
    shown = f" (it starts with {text!r})" if readable else ""
    return f"it is not gzip-compressed{shown}: name it .csv"


def lines_above_header(path: Path, line: int) -> str | None:
    """What pandas' refusal of the CSV ``path`` at ``line`` (a row wider than the first line) means where
    the lines above it are a title or an export's notes, one field of text each, and ``line`` is the
    header, every field of it a name: to delete those lines. None for any other file (a one-column
    table whose row holds a comma).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("Plant A export\\nflow,temp\\n1.5,20\\n")
    >>> print(lines_above_header(p, 2))  # doctest: +NORMALIZE_WHITESPACE
    its first line, 'Plant A export', holds one field where line 2, 'flow,temp', names 2 columns: a
    title above the header? delete the line above it, so that the header is the first line
    >>> _ = p.write_text("flow\\n1.5\\n1,5\\n")
    >>> lines_above_header(p, 3) is None
    True
    """
    if not 2 <= line <= 20:
        return None
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(
            path, "rt", encoding="utf-8-sig", errors="replace", newline=""
        ) as fh:
            lines = [text.rstrip("\r\n") for text in itertools.islice(fh, line)]
    except (OSError, EOFError):
        return None
    if len(lines) < line:
        return None
    above, header = [next(csv.reader([text]), []) for text in lines[:-1]], next(csv.reader([lines[-1]]), [])
    if any(len(fields) > 1 or (fields and plain_number(fields[0])) for fields in above):
        return None
    if len(header) < 2 or any(not name.strip() or plain_number(name) for name in header):
        return None
    which = "the line above it" if line == 2 else f"the {line - 1} lines above it"
    return (
        f"its first line, {lines[0][:60]!r}, holds one field where line {line}, {lines[-1][:60]!r}, names "
        f"{len(header)} columns: a title above the header? delete {which}, so that the header is the first "
        "line"
    )


def not_parquet(path: Path) -> str | None:
    """What the file ``path``, named as a Parquet file, is where its first bytes say it is none (a CSV,
    a zip archive, a gzip file), and what to do; None for a file that starts as Parquet files do, or one
    that cannot be read here.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "rows.parquet"
    >>> _ = p.write_text("flow,temp\\n1.5,20\\n")
    >>> not_parquet(p)
    "it is text (it starts with 'flow,temp\\\\n1.5,20\\\\n'), not a Parquet file: a CSV is read named .csv"
    """
    head = _head(path)
    if head is None:
        return None
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b"PAR1"):
        return None
    for magic, kind, fix in _FORMATS:
        if head.startswith(magic):
            fix = "name it .csv.gz where it holds a CSV" if kind.startswith("a gzip") else fix
            return f"it is {kind}, not a Parquet file: {fix}"
    text = head.decode("utf-8", errors="replace").rstrip("\ufffd")[:20]
    if text and all(c.isprintable() or c in "\n\r\t" for c in text):
        return f"it is text (it starts with {text!r}), not a Parquet file: a CSV is read named .csv"
    return None
