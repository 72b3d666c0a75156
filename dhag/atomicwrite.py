"""Writing a file all at once: a reader sees the old file or the new one, never part of one (model
artifacts, the registry's pointers, run reports, reference samples)."""

from __future__ import annotations

import errno
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, NoReturn

__all__ = ["write_atomic", "write_atomic_with"]

logger = logging.getLogger(__name__)


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _raise_naming(exc: OSError, path: Path) -> NoReturn:
    """Raise ``exc`` naming ``path``, the file being written (a failed write names no file; mkstemp and
    the rename name the temp file), with its errno and class (``PermissionError`` for EACCES...)."""
    if exc.errno is None or exc.filename == str(path):
        raise exc
    raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` with ``data`` all at once: temp file in the same folder, fsync, rename, fsync
    of the folder. A reader sees the old file or the new one, never a partial one.

    A failure before the rename raises and changes nothing, leaving no temp file; its ``OSError`` names
    ``path`` (whatever the system call that failed named) and keeps its errno. Once renamed, the new
    file is what every reader sees, so a failing fsync of the folder does not raise (the caller would
    report a change as failed that has taken effect); it is logged, as the rename may not survive a
    power loss.

    Example
    -------
    >>> import tempfile, os
    >>> p = write_atomic(os.path.join(tempfile.mkdtemp(), "pointer"), b"v2\\n")
    >>> p.read_bytes()
    b'v2\\n'
    """
    return write_atomic_with(path, lambda fh: fh.write(data))


def write_atomic_with(path: str | Path, fill: Callable[[BinaryIO], object]) -> Path:
    """:func:`write_atomic` of what ``fill`` writes to the binary file it is given (a table written as
    it is rendered, never held whole in memory), with the same guarantees.

    >>> import tempfile, os
    >>> write_atomic_with(os.path.join(tempfile.mkdtemp(), "t.csv"), lambda fh: fh.write(b"a\\n")).name
    't.csv'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the file replaced keeps its mode; a new one gets the mode the umask gives any new file
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only, full or forbidden folder: named by the file, not a temp name
        _raise_naming(exc, path)
    try:
        with os.fdopen(fd, "wb") as fh:  # owns fd from here: closed whatever fails below
            os.fchmod(fd, mode)  # mkstemp makes it 0600: a daemon running as another user could not read it
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # The temp file goes; should that fail too (the volume went read-only), the error that stopped
        # the write is the one raised: the next prune of a registry removes the stale temp file.
        with suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _raise_naming(exc, path)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # folders that cannot be synced
            logger.warning(
                "%s was replaced, but syncing its folder failed (%s): the change is in effect, and may "
                "not survive a power loss",
                path,
                exc,
            )
    finally:
        os.close(dir_fd)
    return path
