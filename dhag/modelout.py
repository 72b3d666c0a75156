"""What a model written at ``dhag train --out`` or ``dhag sign --out`` would replace: only a model (or an
empty file). The write replaces whatever is there whole, so a data file named there by a slip (``--out
rows.csv`` for ``--data rows.csv`` in another folder) would be lost without a word, and a pipe or a
device (``/dev/null``, which root may replace) would become a regular file. And what ``dhag score
--out`` would replace with CSV text: a model or a binary data file is refused as well."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dhag.exceptions import InputError
from dhag.filekind import not_a_file

__all__ = ["binary_kind", "check_replaces_a_model"]

# A safetensors file starts with its header's length (8 bytes, little-endian), then the header, a JSON
# object; a DHAG artifact's holds the 'dhag_format' marker. Headers past this size are read no further
# (a model's header is its manifest: kilobytes, or a few megabytes for thousands of features).
_HEADER_READ = 64 << 20
_MAX_BYTES = 1 << 30  # the most an artifact holds (dhag.artifact)
_MARKER = b'"dhag_format"'
# How a DHAG header begins: its metadata comes first, and holds these keys alone, in any order. A header
# cut short (a copy that stopped) may not reach the marker, yet what it holds begins so; another kind of
# safetensors model cut short ('{"__metadata__":{"format":"pt"},"weight"...', or no metadata) does not.
_BEGINNINGS = tuple(
    b'{"__metadata__":{"' + key + b'"' for key in (b"dhag_format", b"manifest", b"checksum", b"signature")
)

# The first bytes of the data files dhag reads, and what each is.
_DATA_FORMATS = {
    b"PAR1": "a Parquet file",
    b"PK\x03\x04": "a zip archive (an NPZ?)",
    b"\x1f\x8b": "a gzip-compressed file",
}


def check_replaces_a_model(path: Path, *, done: str = "trained") -> None:
    """Raise :class:`InputError` when a file at ``path`` (through a link, the file it leads to) is one a
    model should not replace: a regular file that holds data and no DHAG model (a CSV, a Parquet file,
    another model format, also cut short), or a pipe, a device or a socket. Nothing there, an empty
    file, a DHAG model of any format version, and one cut short in its header (a copy that stopped,
    which nothing can read) where what it holds begins as a DHAG header does are replaced; so is a file
    this user cannot read, as what it holds is not known here. The error says nothing was ``done``.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_replaces_a_model(folder / "m.dhag")
    >>> _ = (folder / "rows.csv").write_text("flow,temp\\n1.5,20\\n")
    >>> try:
    ...     check_replaces_a_model(folder / "rows.csv")
    ... except InputError as exc:
    ...     print(str(exc).split(" (")[0].endswith("rows.csv' is a file that holds no DHAG model"))
    True
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there (or not known here): the write says what it finds
        return
    if (kind := not_a_file(mode)) is not None:
        if stat.S_ISDIR(mode):  # refused as one before this is asked
            return
        raise InputError(
            f"--out {str(path)!r} is {kind}, not a file: a model is written as a file of its own, which "
            f"would take its place; name a file; nothing was {done}."
        )
    start = _start(path)
    if start is None:
        return
    head, header, size = start
    # A text file's first 8 bytes read as a length past any artifact's: no header follows them.
    header_like = 0 < size <= _MAX_BYTES and header.startswith(b'{"')
    cut_short = 0 < size <= _MAX_BYTES and len(header) < size and _begins_a_model(header)
    if not head or (header_like and _MARKER in header) or cut_short:
        return
    what = _what(head + header, header_like)
    raise InputError(
        f"--out {str(path)!r} is a file that holds no DHAG model ({what}): the model "
        f"would replace it; name another file, or remove that one first; nothing was {done}."
    )


def binary_kind(path: Path) -> str | None:
    """What the regular file at ``path`` holds where that is no text a CSV replaces: a DHAG model,
    another safetensors file, or a Parquet, NPZ (zip) or gzip file; None for text (yesterday's scores),
    an empty file, nothing there, or a file this user cannot read.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "scores.csv").write_text("score,anomaly\\n0.25,0\\n")
    >>> _ = (folder / "rows.bin").write_bytes(b"PAR1...")
    >>> binary_kind(folder / "scores.csv"), binary_kind(folder / "rows.bin")
    (None, 'a Parquet file')
    """
    if not path.is_file() or (start := _start(path)) is None:
        return None
    head, header, size = start
    if 0 < size <= _MAX_BYTES and header.startswith(b'{"'):
        return "a DHAG model" if _MARKER in header else "a safetensors file (a model)"
    return next((kind for magic, kind in _DATA_FORMATS.items() if head.startswith(magic)), None)


def _start(path: Path) -> tuple[bytes, bytes, int] | None:
    """The first 8 bytes of the file at ``path``, the safetensors header they announce (as much of it as
    the file holds, up to :data:`_HEADER_READ`) and its announced size; None where it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else 0
            return head, fh.read(min(size, _HEADER_READ)), size
    except OSError:
        return None


def _begins_a_model(header: bytes) -> bool:
    """Whether a safetensors ``header`` cut short holds what a DHAG header begins with (all of it there
    is, where it stops sooner).

    >>> _begins_a_model(b'{"__metadata__":{"manifest":"{\\"feature'), _begins_a_model(b'{"__meta')
    (True, True)
    >>> _begins_a_model(b'{"__metadata__":{"format":"pt"},"weight":{"dtype":"F32"')
    False
    """
    return any(header.startswith(start) or start.startswith(header) for start in _BEGINNINGS)


def _what(start: bytes, header_like: bool) -> str:
    """What a file starting with ``start`` holds, as far as its first bytes say (``header_like``: a
    safetensors header)."""
    if header_like:
        return "it is a safetensors file without the DHAG marker: another kind of model"
    for magic, kind in _DATA_FORMATS.items():
        if start.startswith(magic):
            return f"it is {kind}"
    text = start[:32].decode("utf-8", errors="replace").rstrip("\ufffd")
    if text and all(c.isprintable() or c in "\n\r\t" for c in text):
        return f"it starts with {text!r}"
    return "it starts with bytes no DHAG model starts with"
