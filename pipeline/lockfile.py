"""Lock files: ``<label store>.lock`` (one retrainer per label store) and the registry's ``.lock`` (one
pointer switch at a time). Each is a small file that a process locks with ``flock`` while it works
and in which it notes who it is; the lock goes with the process, so a file left by a crashed one
blocks nothing. Something in its place that is no lock file (a folder, a symbolic link, a named pipe,
a socket, a device) stops the command at once with :class:`~pipeline.errors.LockFileError`, saying what
the lock is for and how to recover.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from dhag.filekind import not_a_file
from pipeline.errors import LockFileError

__all__ = ["flocked", "holder", "open_lock"]

log = logging.getLogger(__name__)


@contextmanager
def flocked(path: Path, purpose: str, others: str, *, wait: bool) -> Iterator[bool]:
    """Hold the lock file ``path`` while the block runs (created when missing); yields False, holding
    nothing, when another process holds it and ``wait`` is False (with ``wait``, a warning names the
    holder before the wait). ``purpose`` says what the lock is
    for, ``others`` which processes take it (both for :class:`~pipeline.errors.LockFileError`'s
    message); other :class:`OSError` (a read-only or full volume) are raised as they are.

    Example
    -------
    >>> import tempfile
    >>> lock = Path(tempfile.mkdtemp()) / "x.lock"
    >>> with flocked(lock, "one example at a time", "examples", wait=False) as held:
    ...     held, holder(lock) == f"process {os.getpid()} on {socket.gethostname()}"
    (True, True)
    """
    fh = _open(path, purpose, others)
    kind = not_a_file(os.fstat(fh.fileno()).st_mode)
    if kind is not None:  # opened all the same (a named pipe with a reader, a device): no lock file
        fh.close()
        raise _not_a_file(path, kind, purpose, others)
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            # Said before waiting: behind a holder that hangs (a stuck volume) the wait has no end.
            taken = holder(path)
            log.warning(
                "waiting for %s: its lock %s is held%s",
                purpose,
                path,
                f" (last taken by {taken})" if taken else "",
            )
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            # Who holds it, for whoever finds it held (best effort: the lock does not depend on it).
            # Unbuffered: a note a full volume refuses is dropped, not written again by the close at
            # the release, which raised then (a prune that freed the volume reported as refused).
            with suppress(OSError, UnicodeError):
                os.ftruncate(fh.fileno(), 0)
                os.write(fh.fileno(), f"process {os.getpid()} on {socket.gethostname()}\n".encode())
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _not_a_file(path: Path, kind: str, purpose: str, others: str) -> LockFileError:
    return LockFileError(
        f"{path} is {kind}, where the lock file of {purpose} belongs; nothing of this product makes "
        f"one, and it cannot serve as the lock. Find out who put it there; once you are sure no {others} "
        "runs, remove it and start again; the lock file is created when next needed"
    )


def _open(path: Path, purpose: str, others: str) -> TextIO:
    """:func:`open_lock`; a folder, a symbolic link, a named pipe or a socket in its place refused with
    what to do."""
    try:
        return open_lock(path)
    except IsADirectoryError:
        raise LockFileError(
            f"{path} is a folder, where the lock file of {purpose} belongs; no process holds it (the lock "
            f"is a file, locked while a process works and released when it ends). Once you are sure no "
            f"{others} runs, remove it (rmdir, or move it aside if it holds files) and start again; the "
            "lock file is created when next needed"
        ) from None
    except OSError as exc:
        kind = None
        if exc.errno == errno.ENXIO:  # a named pipe without a reader, a socket
            with suppress(OSError):
                kind = not_a_file(os.lstat(path).st_mode)
        if kind is not None:
            raise _not_a_file(path, kind, purpose, others) from None
        if exc.errno != errno.ELOOP:
            raise
        raise LockFileError(
            f"{path}, the lock file of {purpose}, is a symbolic link, which is never followed (whoever "
            "could write its folder could make this command create the file it names, wherever the "
            "service may write). Nothing of this product makes one: find out who put it there, remove "
            "it and start again; the lock file is created when next needed"
        ) from None


def open_lock(path: Path) -> TextIO:
    """The lock file at ``path``, created if missing, opened for appending: never through a symbolic link
    at its name (``OSError`` ELOOP), nor waiting for a reader of a named pipe there (``OSError`` ENXIO,
    as for a socket)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    fd = os.open(path, flags, 0o666)
    os.set_blocking(fd, True)  # O_NONBLOCK was for the open only
    return os.fdopen(fd, "a", encoding="utf-8")


def holder(path: Path) -> str | None:
    """Who last took the lock file ``path`` (``process PID on HOST``), or None when it does not say."""
    with suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="utf-8").strip()
        return text or None
    return None
