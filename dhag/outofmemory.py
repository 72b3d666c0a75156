"""Memory that ran out: telling it from other failures, and what ``dhag train`` and ``dhag score`` say when
it ran out reading the data, training, saving the model, loading it, scoring or writing the scores."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from dhag.exceptions import DHAGError

__all__ = [
    "is_out_of_memory",
    "loading_message",
    "out_of_memory_message",
    "reading_message",
    "said_when_out_of_memory",
    "saving_message",
    "scoring_message",
    "writing_message",
]

# torch's CPU allocator says "can't allocate memory"; its CUDA one, in builds or paths that raise a
# plain RuntimeError (cuBLAS, older releases), "out of memory".
_SAID = re.compile(r"can't allocate memory|out of memory", re.IGNORECASE)
# "Tried to allocate 2.50 GiB", "you tried to allocate 8589934592 bytes", numpy's "Unable to allocate 89 GiB".
_ASKED = re.compile(r"allocate (\d[\d.]* ?(?:[KMGTP]i?B|bytes))")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: torch's ``OutOfMemoryError`` (an accelerator's), a
    ``MemoryError`` (Python's, numpy's) or a ``RuntimeError`` of torch's allocator that says so.

    >>> is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"))
    True
    >>> is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x3 and 4x64)"))
    False
    """
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and bool(_SAID.search(str(exc)))


def out_of_memory_message(
    exc: BaseException, *, rows: int, features: int, device: str, batch_size: int, out: str
) -> str:
    """What ``dhag train`` says when training ``rows`` x ``features`` on ``device`` ran out of memory:
    one paragraph, with the size asked for when ``exc`` gives it, and what to change.

    >>> print(out_of_memory_message(MemoryError("Unable to allocate 89.4 GiB for an array"), rows=900_000,
    ...                             features=40, device="cpu", batch_size=256, out="m.dhag"))
    ... # doctest: +NORMALIZE_WHITESPACE
    out of memory training 900,000 rows x 40 features on cpu (it asked for 89.4 GiB more). The rows,
    one-hot encoded, and the networks must fit in this machine's memory: train on fewer rows (a sample,
    or a shorter stretch of time), with a smaller --batch-size (now 256), or on a machine with more
    memory free; nothing was written to m.dhag.
    """
    where, instead = _where(device)
    return (
        f"out of memory training {rows:,} rows x {features:,} features on {device}{_asked(exc)}. The rows, "
        f"one-hot encoded, and the networks must fit in {where}: train on fewer rows (a sample, or a "
        f"shorter stretch of time), with a smaller --batch-size (now {batch_size}), or {instead}; "
        f"nothing was written to {out}."
    )


def reading_message(exc: BaseException, *, path: Path, command: str, out: Path | None) -> str:
    """What ``dhag train`` or ``dhag score`` (``command``) says when reading the data file at ``path`` ran
    out of memory: its size on disk, and how to read less of it at once.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "rows.csv"; _ = path.write_text("a\\n1\\n")
    >>> reading_message(MemoryError(), path=path, command="score", out=None)  # doctest: +ELLIPSIS
    "out of memory reading '...rows.csv' (4 bytes): ... score it in parts: ... nothing was written."
    """
    size = _size(path)
    if command == "train":
        instead = "train on a sample of its rows (or a shorter stretch of time)"
    else:  # a row's score depends on that row alone: the parts' scores are the whole file's
        instead = "score it in parts: split its rows into smaller files (each with the header) and score each"
    return (
        f"out of memory reading {str(path)!r}{size}{_asked(exc)}: the whole table, as read, must fit in this "
        f"machine's memory at once, which takes several times its size as text; {instead}, or on a machine "
        f"with more memory free; nothing was written{f' to {out}' if out else ''}."
    )


def scoring_message(
    exc: BaseException, *, rows: int, features: int, device: str, explain: int, out: Path | None
) -> str:
    """What ``dhag score`` says when scoring ``rows`` x ``features`` on ``device`` (with ``--explain``
    ``explain``) ran out of memory, and what to change.

    >>> print(scoring_message(MemoryError(), rows=9_000_000, features=40, device="cuda:0", explain=3,
    ...                       out=None))  # doctest: +NORMALIZE_WHITESPACE
    out of memory scoring 9,000,000 rows x 40 features on cuda:0. The rows, one-hot encoded, are scored at
    once and must fit in the device's memory: score the file in parts (split its rows into smaller files,
    each with the header, and score each: a row's score depends on that row alone), with a smaller
    --explain (now 3), which scores each flagged row once per feature, or on the CPU (--device cpu),
    whose memory is usually larger.
    """
    where, instead = _where(device)
    explaining = (
        f" with a smaller --explain (now {explain}), which scores each flagged row once per feature,"
        if explain
        else ""
    )
    return (
        f"out of memory scoring {rows:,} rows x {features:,} features on {device}{_asked(exc)}. The rows, "
        f"one-hot encoded, are scored at once and must fit in {where}: score the file in parts (split its "
        f"rows into smaller files, each with the header, and score each: a row's score depends on that row "
        f"alone),{explaining} or {instead}{f'; nothing was written to {out}' if out else ''}."
    )


def loading_message(exc: BaseException, *, path: Path, device: str, out: Path | None) -> str:
    """What ``dhag score`` says when loading the model at ``path`` onto ``device`` ran out of memory:
    the model file's size, and where else to load it.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.dhag"; _ = path.write_bytes(b"0" * 2048)
    >>> print(loading_message(MemoryError(), path=path, device="cuda:0", out=None))
    ... # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    out of memory loading the model '...m.dhag' (2,048 bytes) onto cuda:0: its networks must fit in the
    device's memory, with room left to score: load it on the CPU (--device cpu), whose memory is usually
    larger, or where less of that memory is taken by other work; nothing was scored.
    """
    where, instead = _where(device)
    if device.startswith("cpu"):
        instead = "score on a machine with more memory free, or where less of it is taken by other work"
    else:
        instead = f"load it {instead}, or where less of that memory is taken by other work"
    return (
        f"out of memory loading the model {str(path)!r}{_size(path)} onto {device}{_asked(exc)}: its "
        f"networks must fit in {where}, with room left to score: {instead}; nothing was scored"
        f"{f' (nor written to {out})' if out else ''}."
    )


def writing_message(exc: BaseException, *, rows: int, out: Path | None) -> str:
    """What ``dhag score`` says when writing the scores of ``rows`` rows to ``out`` (standard output for
    None) ran out of memory, and what became of them.

    >>> print(writing_message(MemoryError(), rows=9_000_000, out=Path("s.csv")))
    ... # doctest: +NORMALIZE_WHITESPACE
    out of memory writing the scores of 9,000,000 rows to 's.csv': the scores, rendered as CSV, are held
    in this machine's memory beside the rows: score the file in parts (split its rows into smaller files,
    each with the header, and score each: a row's score depends on that row alone), or on a machine
    with more memory free; nothing was written to it (a file there is kept).
    """
    if out is None:
        where, kept = "standard output", "what it took of them, if anything, is cut short"
    else:
        where, kept = repr(str(out)), "nothing was written to it (a file there is kept)"
    return (
        f"out of memory writing the scores of {rows:,} rows to {where}{_asked(exc)}: the scores, rendered as "
        "CSV, are held in this machine's memory beside the rows: score the file in parts (split its rows "
        "into smaller files, each with the header, and score each: a row's score depends on that row "
        f"alone), or on a machine with more memory free; {kept}."
    )


def saving_message(exc: BaseException, *, out: Path, weights: int, members: int, snapshots: int) -> str:
    """What ``dhag train`` says when saving the trained model (its networks' ``weights`` bytes, from
    ``members`` networks keeping ``snapshots`` states each) to ``out`` ran out of memory.

    >>> print(saving_message(MemoryError(), out=Path("m.dhag"), weights=4_096, members=1, snapshots=1))
    ... # doctest: +NORMALIZE_WHITESPACE
    out of memory saving the trained model to 'm.dhag' (weights of 4,096 bytes): the weights, copied
    and rendered as one file, must fit in this machine's memory beside the training data: train again
    on a machine with more memory free, or where less of it is taken by other work, or with fewer
    networks (--members, now 1; --snapshots, now 1); nothing was written to it.
    """
    kept = " (a file there is kept)" if out.exists() else ""
    return (
        f"out of memory saving the trained model to {str(out)!r} (weights of {weights:,} bytes)"
        f"{_asked(exc)}: the weights, copied and rendered as one file, must fit in this machine's memory "
        "beside the training data: train again on a machine with more memory free, or where less of it "
        f"is taken by other work, or with fewer networks (--members, now {members}; --snapshots, now "
        f"{snapshots}); nothing was written to it{kept}."
    )


@contextmanager
def said_when_out_of_memory(say: Callable[[BaseException], str]) -> Iterator[None]:
    """Turn memory running out inside the block into a :class:`DHAGError` of one paragraph, ``say(exc)``;
    other errors, torch's other ``RuntimeError`` s among them, go through as they are."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, DHAGError) or not is_out_of_memory(exc):
            raise
        raise DHAGError(say(exc)) from None


def _size(path: Path) -> str:
    """`` (2,048 bytes)``: the size of the file at ``path``, or nothing when it cannot be read."""
    try:
        return f" ({path.stat().st_size:,} bytes)"
    except OSError:
        return ""


def _asked(exc: BaseException) -> str:
    """The size the failed allocation asked for, as the error gives it; empty when it gives none."""
    asked = _ASKED.search(str(exc))
    return f" (it asked for {asked.group(1)} more)" if asked else ""


def _where(device: str) -> tuple[str, str]:
    """The memory that ran out on ``device``, and where else to run."""
    if device.startswith("cpu"):
        return "this machine's memory", "on a machine with more memory free"
    return "the device's memory", "on the CPU (--device cpu), whose memory is usually larger"
