"""SIGTERM and SIGHUP while a ``dhag`` command runs: raised as :class:`Stopped`, as Ctrl-C raises
``KeyboardInterrupt``, so that a file being written is removed on the way out (the atomic writes) rather
than left behind in part by a process killed where it stood."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TextIO

__all__ = ["Stopped", "silenced", "stopped_by_signals"]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The command was stopped by ``signum``; whatever cleans up after Ctrl-C cleans up after it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    for each in _SIGNALS:  # a second signal while cleaning up ends the process at once
        signal.signal(each, signal.SIG_DFL)
    raise Stopped(signum)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` inside the block (in the main thread; elsewhere the
    handlers cannot be set and nothing changes); the handlers before it are restored after it.

    >>> import os
    >>> with stopped_by_signals():
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ...     except Stopped as exc:
    ...         print(exc, exc.signum == signal.SIGTERM)
    SIGTERM True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {each: signal.getsignal(each) for each in _SIGNALS}
    for each, handler in before.items():
        if handler != signal.SIG_IGN:  # one ignored (nohup) stays ignored
            signal.signal(each, _raise)
    try:
        yield
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)


def silenced(out: TextIO | None = None) -> None:
    """Point ``out`` (standard output by default), when it is a file, at the null device: what its buffer
    still holds (for a reader gone, a full disk) is then not written again, and refused again, as Python
    exits (a traceback, or 'Exception ignored' and exit status 120)."""
    out = sys.stdout if out is None else out
    with suppress(OSError, ValueError):  # not a file, or closed (io.UnsupportedOperation is both)
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
