"""How a service stops on SIGTERM/SIGINT once it runs: the first signal asks it to stop within its
shutdown grace, and the grace running out, or a second signal, forces the exit."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["EXIT_FORCED", "force_exit", "install_signals"]

log = logging.getLogger("pipeline")

EXIT_FORCED = 1
_SAY_S = 0.5  # how long a forced exit waits to say why


def install_signals(
    request_stop: Callable[[], None], grace_s: float, *, stopping: str | Callable[[], str]
) -> None:
    """First SIGTERM/SIGINT: ``request_stop()``, a log line "SIGTERM received: ``stopping``" (what the
    service finishes before it stops, in its own words; a callable says it as it stands at the signal),
    and a forced exit (:data:`EXIT_FORCED`) after ``grace_s``; a second one: the forced exit at once.
    Neither waits on logging for long: a log collector that stopped reading blocks every write, and
    would keep the process from stopping."""
    received = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            force_exit(f"second signal ({signal.Signals(signum).name})")
            return
        request_stop()  # before the log line, which may block
        timer = threading.Timer(grace_s, force_exit, args=(f"shutdown took longer than {grace_s}s",))
        timer.daemon = True
        timer.start()
        words = stopping() if callable(stopping) else stopping
        log.info("%s received: %s", signal.Signals(signum).name, words)

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def force_exit(reason: str) -> None:
    """Exit at once with :data:`EXIT_FORCED`, saying ``reason`` on stderr if it can within a moment."""
    saying = threading.Thread(target=_say, args=(f"{reason}: forcing exit\n",), daemon=True)
    saying.start()
    saying.join(_SAY_S)
    os._exit(EXIT_FORCED)


def _say(line: str) -> None:
    try:
        sys.stderr.write(line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
