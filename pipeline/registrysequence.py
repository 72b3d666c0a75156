"""The registry's publication numbers: each version ``publish`` writes records its place among the
registry's publications (``sequence`` in its metadata), which orders versions whatever the clock did
(:func:`pipeline.registryinfo.publication_order`) and names those published without a name.

The last number given is kept in ``<registry>/.sequence``, written (atomically) under the registry's
lock once the version it numbers is written, so a publication reads one small file and lists the
folder, not every version's manifest (some 2 ms a version, under the lock): a version named as
publications name one, ``v20261129T101500Z-42``, says its number in its name and is not looked at
further unless that is above the count; any other has its change time looked at. It
is recovered from the manifests when it is missing or cannot be read (a registry of an earlier
release, a restore that left it out), and from the manifests of the artifacts put there after it when
there are some (published by an earlier release during an upgrade, copied in, even by a copy that kept
an older modification time, ``cp -p``: their change time, which no copy sets, says when they came): so
a number is not given twice while the versions that had it are there, nor, the file kept, once they
are pruned. An empty folder in its place (a bind mount of a file that was not there makes one) is
removed and the count written there; one with files in it is refused, named, before a publication.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

import dhag
from dhag import ArtifactError
from dhag.atomicwrite import write_atomic
from pipeline.errors import ModelUnavailableError
from pipeline.registrypointer import SUFFIX, VERSION

__all__ = [
    "SEQUENCE",
    "check_count",
    "highest_sequence",
    "next_sequence",
    "record_sequence",
    "recorded_sequence",
    "sequence_of",
]

SEQUENCE = ".sequence"
# The name of a version published without one (pipeline.registry._default_version): its number in it.
_NUMBERED = re.compile(r"v\d{8}T\d{6}Z-(\d+)(?:-\d+)?")

log = logging.getLogger("pipeline.registry")  # its lines read as the registry's


def next_sequence(root: Path) -> int:
    """The publication number of the next version published into ``root`` (the caller holds the
    registry's lock, and records it with :func:`record_sequence` once the version is written).

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> next_sequence(root)
    1
    >>> record_sequence(root, 41)
    >>> next_sequence(root)
    42
    """
    recorded = recorded_sequence(root / SEQUENCE)
    if recorded is None:
        return highest_sequence(_artifacts(root)) + 1
    number, written = recorded
    return max(number, highest_sequence(_artifacts(root, written_after=written, counted=number))) + 1


def record_sequence(root: Path, number: int) -> None:
    """Record ``number`` as the last given in ``root`` (atomically; an ``OSError`` is raised: the
    publication it numbers fails with it)."""
    write_atomic(root / SEQUENCE, f"{number}\n".encode())


def recorded_sequence(path: Path) -> tuple[int, float] | None:
    """The last number given as ``path`` records it, and when it was written (its modification time);
    None when it is missing, or cannot be read (said: it is recounted), or is an empty folder (removed,
    said: the count is written in its place)."""
    try:
        text = path.read_text(encoding="utf-8")
        written = path.stat().st_mtime
        number = int(text.strip())
        if number < 0:
            raise ValueError(f"a negative number, {number}")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        _remove_folder(path)
        log.warning(
            "the registry's publication count %s was an empty folder, not a file: removed, counted again "
            "from the versions' manifests, and written as a file",
            path,
        )
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning(
            "the registry's publication count %s cannot be read (%s): counted again from the versions' "
            "manifests, and written again",
            path,
            exc.strerror if isinstance(exc, OSError) and exc.strerror else exc,
        )
        return None
    return number, written


def check_count(root: Path) -> None:
    """Refuse (:class:`~pipeline.errors.ModelUnavailableError`) a folder with files in it where ``root``'s
    count is written, as a publication would: before the work whose version it would publish."""
    path = root / SEQUENCE
    with suppress(OSError):
        if path.is_dir() and any(path.iterdir()):
            raise ModelUnavailableError(_folder_refusal(path, os.strerror(errno.ENOTEMPTY)))


def _remove_folder(path: Path) -> None:
    """Remove the empty folder at ``path`` (a bind mount of a file that was not there makes one), where the
    count is written as a file; one with files in it, or a mount point, is refused
    (:class:`~pipeline.errors.ModelUnavailableError`) before anything is published, left for a person."""
    try:
        path.rmdir()
    except OSError as exc:
        raise ModelUnavailableError(_folder_refusal(path, exc.strerror or str(exc))) from None


def _folder_refusal(path: Path, why: str) -> str:
    return (
        f"the registry's publication count {str(path)!r} is a folder, not a file, and cannot be removed "
        f"({why}): look at what it holds and remove it (the count is recovered from the versions' "
        "manifests); nothing was published"
    )


def highest_sequence(artifacts: Iterable[Path]) -> int:
    """The highest publication number the manifests of ``artifacts`` record (0 for none); one that
    cannot be read, or records none (an earlier release's, saved by hand), is passed over.

    >>> highest_sequence([])
    0
    """
    highest = 0
    for path in artifacts:
        try:
            meta = dhag.read_manifest(path).get("metadata")
        except (ArtifactError, OSError):
            continue
        if isinstance(meta, dict) and (number := sequence_of(meta)) is not None:
            highest = max(highest, number)
    return highest


def sequence_of(meta: dict[str, object]) -> int | None:
    """The publication number ``meta`` records (None: none, or not a whole number, as saved by hand).

    >>> sequence_of({"sequence": 7}), sequence_of({"sequence": True}), sequence_of({})
    (7, None, None)
    """
    value = meta.get("sequence")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _artifacts(root: Path, *, written_after: float | None = None, counted: int = 0) -> list[Path]:
    """The artifacts of ``root``'s versions (a file no version names left out); with ``written_after``,
    those that may hold a number above ``counted``: named with a number above it, or named otherwise and
    put there after that time (one that cannot be looked at is left out). One listing of the folder, a
    look at the change time of each file named otherwise (set by its writing, its rename into the
    folder, a copy: not kept as a modification time is by ``cp -p``), no file read."""
    found = []
    with os.scandir(root) as entries:
        for entry in entries:
            name = entry.name
            if not (name.endswith(SUFFIX) and VERSION.fullmatch(name[: -len(SUFFIX)])):
                continue
            if written_after is not None and (numbered := _NUMBERED.fullmatch(name[: -len(SUFFIX)])):
                if int(numbered.group(1)) <= counted:
                    continue
            elif written_after is not None:
                try:
                    if entry.stat().st_ctime <= written_after:
                        continue
                except OSError:
                    continue
            found.append(Path(entry.path))
    return found
