"""What a model written at ``dhag train --out`` or ``dhag sign --out`` would replace: only a model (or an
empty file). The write replaces whatever is there whole, so a data file named there by a slip (``--out
rows.csv`` for ``--data rows.csv`` in another folder) would be lost without a word, and a pipe or a
device (``/dev/null``, which root may replace) would become a regular file. And what ``dhag score
--out`` would replace with CSV text: a model or a binary data file is refused as well."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dhag.artifacthead import data_format, held
from dhag.exceptions import InputError
from dhag.filekind import not_a_file

__all__ = ["binary_kind", "check_replaces_a_model"]

# A safetensors file starts with its header's length (8 bytes, little-endian), then the header, a JSON
# object; a DHAG artifact's holds the 'dhag_format' marker. Headers past this size are read no further
# (a model's header is its manifest: kilobytes, or a few megabytes for thousands of features).
_HEADER_READ = 64 << 20
_MAX_BYTES = 1 << 30  # the most an artifact holds (dhag.artifact)
_MARKER = b'"dhag_format"'
_SHOWN = 40  # the first bytes that say what a file holds, as many as a model's loading reads for it
# How a DHAG header begins: its metadata comes first, and holds these keys alone, in any order. A header
# cut short (a copy that stopped) may not reach the marker, yet what it holds begins so; another kind of
# safetensors model cut short ('{"__metadata__":{"format":"pt"},"weight"...', or no metadata) does not.
_BEGINNINGS = tuple(
    b'{"__metadata__":{"' + key + b'"' for key in (b"dhag_format", b"manifest", b"checksum", b"signature")
)


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
    head, header, size, first, file_size = start
    # A text file's first 8 bytes read as a length past any artifact's: no header follows them.
    header_like = 0 < size <= _MAX_BYTES and header.startswith(b'{"')
    cut_short = 0 < size <= _MAX_BYTES and len(header) < size and _begins_a_model(header)
    if not head or (header_like and _MARKER in header) or cut_short:
        return
    what = _what(first, header_like, file_size)
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
    head, header, size, _, _ = start
    if 0 < size <= _MAX_BYTES and header.startswith(b'{"'):
        return "a DHAG model" if _MARKER in header else "a safetensors file (a model)"
    return data_format(head)


def _start(path: Path) -> tuple[bytes, bytes, int, bytes, int] | None:
    """The first 8 bytes of the file at ``path``, the safetensors header they announce (as much of it as
    the file holds, up to :data:`_HEADER_READ`) and its announced size, and the file's first
    :data:`_SHOWN` bytes and size; None where it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = int.from_bytes(head, "little") if len(head) == 8 else 0
            body = fh.read(max(min(size, _HEADER_READ), _SHOWN - 8))
            return head, body[:size], size, (head + body)[:_SHOWN], os.fstat(fh.fileno()).st_size
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


def _what(start: bytes, header_like: bool, size: int) -> str:
    """What a file of ``size`` bytes starting with ``start`` holds, as far as its first bytes say
    (``header_like``: a safetensors header), as a model given to be loaded is said to hold
    (:func:`~dhag.artifacthead.held`)."""
    if header_like:
        return "it is a safetensors file without the DHAG marker: another kind of model"
    return held(start, size) or "it starts with bytes no DHAG model starts with"
