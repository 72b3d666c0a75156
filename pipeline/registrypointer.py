"""The registry folder's pointer files: ``current`` (the version in use) and ``history`` (the versions
current before it, newest last), read and switched under the folder's lock; and what a version's name
may be. :mod:`pipeline.registry` builds publishing, promotion and rollback on them.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dhag.atomicwrite import write_atomic
from pipeline.artifactfault import read_failure
from pipeline.errors import ModelUnavailableError, VersionUnreadableError
from pipeline.lockfile import flocked
from pipeline.promotedby import record

__all__ = ["CURRENT", "HISTORY", "SUFFIX", "check_version", "history", "locked", "pointer_to_replace"]
__all__ += ["VERSION", "absence", "read_pointer", "switch"]

CURRENT = "current"
HISTORY = "history"
LOCK = ".lock"
SUFFIX = ".dhag"
HISTORY_LIMIT = 20
_HISTORY_LOST = (
    "It lists the earlier current versions, the rollback targets: restore it from a backup, or move it "
    "aside (rollback then has no earlier version; 'models promote VERSION' switches to any one)"
)
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PROMOTE = "'models promote VERSION'"
_REPAIR = f"{_PROMOTE} rewrites it ('models list' shows the versions)"

log = logging.getLogger("pipeline.registry")  # its lines read as the registry's


class _UnreadableError(ModelUnavailableError):
    """``current`` is there but cannot be read (no permission, an I/O error): unlike a damaged one, it
    may well name the version the daemons run."""


def check_version(version: str) -> str:
    if not VERSION.fullmatch(version):
        raise ValueError(
            f"A model version must be 1-100 characters of letters, digits, '.', '_' or '-', starting with "
            f"a letter or digit. Got {version!r} instead."
        )
    return version


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise pointer switches of concurrent commands (advisory; readers never need it)."""
    purpose = f"the registry {root} (its pointer switches and publications, one at a time)"
    with flocked(root / LOCK, purpose, "'models' command or retrainer on this registry", wait=True):
        yield


def read_pointer(root: Path) -> str | None:
    """The version ``current`` names, or None when there is no pointer (or an empty one); raises
    :class:`ModelUnavailableError` naming the file when it cannot be read or names no valid version."""
    pointer = root / CURRENT
    try:
        text = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ModelUnavailableError(f"{str(pointer)!r} is not a file: remove it, then {_PROMOTE}") from None
    except OSError as exc:
        code = f" ({errno.errorcode[exc.errno]})" if exc.errno in errno.errorcode else ""
        raise _UnreadableError(f"Cannot read {str(pointer)!r}: {exc.strerror or exc}{code}") from None
    except UnicodeDecodeError:
        raise ModelUnavailableError(f"the pointer {str(pointer)!r} is not text: {_REPAIR}") from None
    if text and not VERSION.fullmatch(text):
        raise ModelUnavailableError(f"the pointer {str(pointer)!r} does not name a valid version: {_REPAIR}")
    return text or None


def pointer_to_replace(root: Path, version: str, *, warn: bool = True) -> str | None:
    """The version an operator's switch to ``version`` replaces: that :func:`read_pointer` reads, or
    None, with a warning (unless not ``warn``: a check before the work that ends in the switch), for a
    damaged pointer the switch repairs. Refused (:class:`ModelUnavailableError`)
    are a folder (no rename replaces it) and a pointer that cannot be read (no permission, an I/O
    error): that is no damage, and the version it names, likely the one in use, would be replaced
    unseen and never join the history."""
    try:
        return read_pointer(root)
    except _UnreadableError as exc:
        raise ModelUnavailableError(
            f"{exc}; not replacing it with {version!r}: it may name the version in use, which would join "
            "no history. Fix what stops reading it (its owner and mode: run the command as the service's "
            "user; the volume: I/O errors in the kernel log), or, to replace it all the same, move it "
            "aside first"
        ) from None
    except ModelUnavailableError as exc:
        if (root / CURRENT).is_dir():
            raise
        if warn:
            log.warning("%s; replacing it with %r", exc, version)
        return None


def absence(path: Path, version: str) -> str | None:
    """Why ``path``, the artifact of ``version``, is none: None for a regular file, else ``does not
    exist`` or ``is not a file``. A stat the system fails otherwise (EIO, ESTALE on a shared volume,
    EACCES) says nothing of the version: :class:`VersionUnreadableError` (``io_error``) names the file."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # a broken link is no artifact either
            return "does not exist"
        raise VersionUnreadableError(f"{read_failure(path, exc)} (version {version!r})", "io_error") from None
    return None if stat.S_ISREG(mode) else "is not a file"


def history(registry: str | Path) -> list[str]:
    """Versions that were current before the present one, oldest first (empty when none)."""
    path = Path(registry) / HISTORY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"Cannot read the registry history {str(path)!r}: {exc}. {_HISTORY_LOST}"
        ) from None
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        raise ModelUnavailableError(
            f"The registry history {str(path)!r} is not a list of versions. {_HISTORY_LOST}"
        )
    return data


def switch(
    root: Path, version: str, previous: str | None, *, remember_previous: bool, by: str = "operator"
) -> None:
    """Point ``current`` at ``version``; the ``previous`` one joins the history unless this is a rollback,
    or it ends the history already (a rollback whose history could not be shortened left it there).
    ``by`` (the ``retrainer``, an ``operator``, a ``rollback``) is recorded once it is done
    (:mod:`pipeline.promotedby`).

    The history is written first: a switch cut short after it leaves the history naming the version
    still current, which a rollback skips. A write of ``current`` that fails (a full volume, no
    permission) puts the history back as it was before raising, so the promotion, refused, leaves both
    files as they were, and once made is in the history once; should that undo fail too, it is logged
    (the entry it leaves ends the history, so a retry adds none)."""
    past = history(root)
    if not (remember_previous and previous is not None and previous != version and past[-1:] != [previous]):
        write_atomic(root / CURRENT, (version + "\n").encode())
        record(root, version, by)
        return
    path = root / HISTORY
    try:
        before: bytes | None = path.read_bytes()
    except FileNotFoundError:
        before = None
    write_atomic(path, (json.dumps((past + [previous])[-HISTORY_LIMIT:]) + "\n").encode())
    try:
        write_atomic(root / CURRENT, (version + "\n").encode())
    except BaseException:
        _undo_history(root, version, before)
        raise
    record(root, version, by)


def _undo_history(root: Path, version: str, before: bytes | None) -> None:
    """Put back the history a switch to ``version`` wrote (``before``: its bytes, None: there was none),
    unless ``current`` names ``version`` all the same (interrupted after its rename: the switch is done)."""
    path = root / HISTORY
    try:
        if _named(root) == version:
            return
        if before is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, before)
    except OSError as exc:
        log.warning(
            "the switch to %s failed, and the history %s could not be put back as it was (%s): it ends "
            "with the version still current, which a rollback skips",
            version,
            path,
            exc.strerror or exc,
        )


def _named(root: Path) -> str | None:
    """The version ``current`` names (None: none, or it cannot be read)."""
    try:
        return read_pointer(root)
    except ModelUnavailableError:
        return None
