"""Why a file given as a model is no readable artifact, from its first bytes: empty, text, a data file of
another format, or a safetensors header cut short (:mod:`dhag.artifact` reads the artifact)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dhag.exceptions import ArtifactError
from dhag.infotext import shown_name

__all__ = ["cut_short", "no_header", "unreadable", "weights_cut_short"]


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
    for magic, kind in _DATA_FORMATS.items():
        if head.startswith(magic):
            return f"it is {kind}, not a DHAG model (a data file given as the model?)"
    # A header's length is 8 bytes of a binary number (zeros at its top): text is no header.
    text = (head + header_bytes)[:32].decode("utf-8", errors="replace").rstrip("\ufffd")
    if all(c.isprintable() or c in "\n\r\t" for c in text):
        return f"it starts with {text!r}: text, not a DHAG model (a data file given as the model?)"
    return f"its header of {header_len} bytes is cut short: the file holds {size} bytes"


def no_header(header_len: int) -> str:
    """Why a file whose first 8 bytes announce a header of ``header_len`` bytes, not beginning with
    ``{``, is no artifact."""
    return f"its header of {header_len} bytes does not begin with '{{', as a safetensors header does"


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
