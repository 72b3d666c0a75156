"""Why a file given as a model is no readable artifact, from its first bytes: empty, text (also UTF-16, or
padded with NUL bytes), NUL bytes alone, a data file of another format, or a safetensors header cut short
(:mod:`dhag.artifact` reads the artifact); and what a path given as a model that is no file is."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from dhag.exceptions import ArtifactError
from dhag.filekind import not_a_file
from dhag.infotext import shown_name
from dhag.modelnear import folder_said

__all__ = [
    "cut_short",
    "data_format",
    "described",
    "held",
    "no_header",
    "not_regular",
    "unreadable",
    "weights_cut_short",
]


def not_regular(path: Path, mode: int) -> ArtifactError | None:
    """The refusal of ``path``, given as a model, where its ``os.stat`` ``mode`` is no regular file's:
    what it is (a folder and the artifacts in it, a named pipe, a device, ...); None for a regular file.

    >>> print(not_regular(Path("p"), stat.S_IFCHR))
    Model artifact 'p' is not a regular file. It is a character device, which holds no model.
    """
    if (kind := not_a_file(mode)) is None:
        return None
    said = folder_said(path) if stat.S_ISDIR(mode) else f"It is {kind}, which holds no model."
    return ArtifactError(f"Model artifact {str(path)!r} is not a regular file. {said}")


def unreadable(path: Path, exc: BaseException) -> ArtifactError:
    """The refusal of the model file ``path``, which ``exc`` found no readable artifact."""
    # The parser's message may quote the file's header (safetensors: "unknown variant `...`"): shown so
    # that a line break or a terminal's escape in it neither breaks the line nor acts on a terminal.
    return ArtifactError(
        f"Model artifact {str(path)!r} is not a readable DHAG model (truncated or not a safetensors "
        f"file): {shown_name(exc)}"
    )


# The first bytes of the binary files a model is mistaken for, and what each is.
_DATA_FORMATS = {
    b"PK\x03\x04": "a zip archive (an NPZ, or a PyTorch .pt)",
    b"PAR1": "a Parquet file",
    b"\x1f\x8b": "a gzip-compressed file (a .csv.gz)",
}


def data_format(start: bytes) -> str | None:
    """Which binary data file (a zip archive, a Parquet or gzip file) one starting with ``start`` is; None
    where it is none of them.

    >>> data_format(b"PAR1\x15\x04"), data_format(b"flow,temp")
    ('a Parquet file', None)
    """
    return next((kind for magic, kind in _DATA_FORMATS.items() if start.startswith(magic)), None)


def cut_short(head: bytes, header_len: int, header_bytes: bytes, *, size: int) -> str:
    """Why a file of ``size`` bytes whose first bytes are ``head`` and ``header_bytes`` (a few, or all
    of them) holds no whole safetensors header: it is empty or a few bytes long, it is text or a binary
    data file (given as the model), or the header its first 8 bytes announce is cut short.

    >>> print(cut_short(b"a,b\\n0,0\\n", 3474863307848982625, b"1,1\\n", size=200_000_000))
    it starts with 'a,b\\n0,0\\n1,1\\n': text, not a DHAG model (a data file given as the model?)
    """
    if not head:
        return "it is empty (0 bytes)"
    if len(head) < 8:
        return f"it holds only {len(head)} bytes"
    return described(head + header_bytes, size) or (
        f"its header of {header_len} bytes is cut short: the file holds {size} bytes"
    )


def described(start: bytes, size: int) -> str:
    """What a file of ``size`` bytes that starts with ``start`` (its first few dozen bytes) is, where
    they show it to be no DHAG model (:func:`held`), said so; empty where they show nothing.

    >>> print(described(b"flow,temp\\n1.5,20\\n" + bytes(22), 4096).split(": ")[0])
    it starts with 'flow,temp\\n1.5,20\\n', then NUL bytes
    >>> print(described(bytes(40), 4096)); print(described(bytes(12), 12))
    its first 40 bytes are NUL bytes (zeros), as no DHAG model's are
    it holds nothing but 12 NUL bytes (zeros)
    >>> described(b"\\xd8P\\x02\\x00\\x00\\x00\\x00\\x00{\\"__metadata__", 600)
    ''
    """
    said = held(start, size)
    if said and start.strip(b"\0"):
        return f"{said}, not a DHAG model (a data file given as the model?)"
    return f"{said}, as no DHAG model's are" if said and size > len(start) else said


def held(start: bytes, size: int) -> str:
    """What a file of ``size`` bytes that starts with ``start`` (its first few dozen bytes) holds, where
    they show it: a data file of another format, NUL bytes (zeros) alone, text (followed by NUL bytes,
    as a file padded to a block's size is), or UTF-16 text; empty where they show nothing (a header
    whose length the first 8 bytes give).

    >>> held(b"\\xff\\xfef\\x00l\\x00o\\x00w\\x00", 4096)
    "it starts with 'flow': UTF-16 text"
    """
    if kind := data_format(start):
        return f"it is {kind}"
    if not start.strip(b"\0"):
        if size <= len(start):
            return f"it holds nothing but {size} NUL bytes (zeros)"
        return f"its first {len(start)} bytes are NUL bytes (zeros)"
    if (utf16 := _utf16(start)) is not None:
        return f"it starts with {utf16!r}: UTF-16 text"
    # Text, where what follows its first NUL byte is NUL bytes alone: a file padded with zeros.
    # (Where nothing follows the first 8 bytes, their zeros are the top of a header's length.)
    text, nul, rest = start.partition(b"\0")
    if rest.strip(b"\0") or (nul and len(start) <= 8) or not (shown := _text(text[:32])):
        return ""
    then = ", then NUL bytes" if nul and len(text) <= 32 else ""  # right after the text shown
    return f"it starts with {shown!r}{then}: text"


def _text(start: bytes) -> str:
    """``start`` as text where it is some (a character cut at its end left out); empty where not."""
    # A header's length is 8 bytes of a binary number (zeros at its top): text is no header.
    text = start.decode("utf-8", errors="replace").rstrip("\ufffd")
    return text if text and all(c.isprintable() or c in "\n\r\t" for c in text) else ""


def _utf16(start: bytes) -> str | None:
    """``start`` as UTF-16 text (as Windows tools write it: a byte-order mark, or a NUL byte beside each
    letter of Latin text), None where it is none."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        codec, body = ("utf-16-le" if start[0] == 0xFF else "utf-16-be"), start[2:]
    elif len(start) >= 8 and not any(start[1::2]) and all(start[0::2]):
        codec, body = "utf-16-le", start
    elif len(start) >= 8 and not any(start[0::2]) and all(start[1::2]):
        codec, body = "utf-16-be", start
    else:
        return None
    text = body[: len(body) // 2 * 2].decode(codec, errors="replace").rstrip("\ufffd")[:32]
    return text if text and all(c.isprintable() or c in "\n\r\t" for c in text) else None


def no_header(start: bytes, header_len: int, size: int) -> str:
    """Why a file of ``size`` bytes that starts with ``start``, whose first 8 bytes announce a header of
    ``header_len`` bytes not beginning with ``{`` (or of none), is no artifact: what it is, where its
    first bytes show it."""
    return described(start, size) or (
        f"its header of {header_len} bytes does not begin with '{{', as a safetensors header does"
    )


def weights_cut_short(header: dict[str, Any], header_len: int, size: int) -> str:
    """Why a file of ``size`` bytes whose safetensors ``header`` (of ``header_len`` bytes) describes
    weights that end elsewhere cannot hold them; empty where it can, or where the header describes
    none as safetensors does (the parser says what is wrong).

    >>> print(weights_cut_short({"w": {"data_offsets": [0, 400]}}, 100, 308))
    its weights are cut short: its header describes 508 bytes, and the file holds 308
    """
    try:
        ends = [part["data_offsets"][1] for name, part in header.items() if name != "__metadata__"]
        expected = 8 + header_len + max([0, *ends])
    except (AttributeError, KeyError, IndexError, TypeError):
        return ""
    if not isinstance(expected, int) or expected == size:
        return ""
    if expected > size:
        return f"its weights are cut short: its header describes {expected} bytes, and the file holds {size}"
    return f"it holds {size - expected} bytes past the {expected} its header describes"
