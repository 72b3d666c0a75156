"""SIGTERM and SIGINT before a command has its own handlers: from its first line (while it imports
torch, reads its settings, waits for Kafka) until a service installs
:func:`~pipeline.signals.install_signals`.

The first signal raises :class:`StartupInterrupted` in the main thread, wherever start-up is; the
command stops at once with one line, ``SIGTERM during start-up: stopped before ...``: a service
(:data:`STOPPED_BEFORE`) with exit 0, as its stop by a signal once it runs, any other command with
128 + the signal's number, as a shell reports an interrupted command. A second signal while the first
unwinds forces the exit (:func:`~pipeline.signals.force_exit`). Once start-up has ended without the
service's own handlers (an error exit on its way out), a first signal changes nothing: the process
is already stopping, with its own exit code.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from pipeline.signals import force_exit

__all__ = ["STOPPED_BEFORE", "StartupInterrupted", "StartupSignals", "stoppable_at_startup"]

log = logging.getLogger("pipeline")

# What each long-running command has not done yet when a signal stops its start-up.
STOPPED_BEFORE = {
    "run": "consuming anything",
    "retrain": "reading any label",
    "simulate": "streaming anything",
    "demo": "starting anything",
}
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupInterrupted(BaseException):  # not an Exception: no broad handler may swallow it
    """SIGTERM or SIGINT before the service runs: nothing consumed or produced yet, so the process can
    stop at once, cleanly, releasing what start-up already took (metrics port, broker child)."""


class StartupSignals:
    """SIGTERM/SIGINT raising :class:`StartupInterrupted` from the moment this is made (in the main
    thread; elsewhere it does nothing): once, then a second signal forces the exit. :meth:`disarm`
    ends start-up; :meth:`restore` also puts back the handlers found (a command that stops as Python
    does by default)."""

    def __init__(self) -> None:
        self._armed = threading.current_thread() is threading.main_thread()
        self._found: dict[int, Any] = {}
        self._received = 0
        if self._armed:
            for signum in _SIGNALS:
                self._found[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._received += 1
        name = signal.Signals(signum).name
        if self._received > 1:
            force_exit(f"second signal ({name})")
        elif self._armed:
            self._armed = False  # before the raise: a signal while it unwinds is a second one
            raise StartupInterrupted(name)

    def disarm(self) -> None:
        """Start-up is over: a first signal from now on changes nothing, a second forces the exit."""
        self._armed = False

    def restore(self) -> None:
        """Start-up is over: the handlers found when this was made take over again."""
        self._armed = False
        for signum, handler in self._found.items():
            signal.signal(signum, handler)


def stoppable_at_startup(start: Callable[[], int], before: str, logger: logging.Logger = log) -> int:
    """Run a service's ``start`` (its exit code); SIGTERM/SIGINT before it has installed its own
    handlers stops it cleanly with exit 0 and a log line saying it stopped before ``before``."""
    try:
        signals = StartupSignals()
        try:
            return start()
        finally:
            signals.disarm()
    except StartupInterrupted as exc:
        logger.warning("%s during start-up: stopped before %s", exc, before)
        return 0
