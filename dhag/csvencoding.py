"""What a CSV that is not UTF-8 is written in, where its first bytes tell: UTF-16 or UTF-32, as Excel's
"Unicode text" and Windows PowerShell's ``Out-File`` write. Without its byte-order mark such a file
decodes as UTF-8 holding NUL bytes, and would be read as columns named ``'f\\x00l\\x00o\\x00w'``."""

from __future__ import annotations

import gzip
from pathlib import Path

__all__ = ["wide_encoding"]

_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
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
