"""The entry of the installed ``dhag-pipeline`` script and of ``python -m pipeline``: it imports nothing
before :mod:`pipeline.cli` (the package itself imports none of its modules until one is asked for),
whose imports (the settings, logging, the services' modules) take some 20 ms before its handlers of a
stop during start-up are armed (:mod:`pipeline.startup`). A Ctrl-C (SIGINT) or a SIGTERM in them,
from the first import of :mod:`pipeline.errors` on, ends the command as one a moment later does, with
one line and the same exit status, not a traceback of ``KeyboardInterrupt``."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # as typing says it, without importing typing before main can catch a Ctrl-C
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

__all__ = ["main", "service_stopped_before"]


def main(argv: Sequence[str] | None = None) -> int:
    """:func:`pipeline.cli.main`, a Ctrl-C or SIGTERM while it is imported included; returns the exit
    status."""
    import signal  # pipeline.cli imports it too: no time added

    stopped: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopped.append(signum)
        raise KeyboardInterrupt  # unwinds the import as SIGINT's own handler does

    try:
        found = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: no handler can be set from there
        found = None
    try:
        from pipeline.cli import main as run
    except KeyboardInterrupt:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second signal ends it at once, unsaid
            signal.signal(signum, signal.SIG_DFL)
        name = signal.Signals(stopped[0] if stopped else signal.SIGINT)
        before = service_stopped_before(list(sys.argv[1:] if argv is None else argv))
        sys.stderr.write(f"{name.name} during start-up: stopped before {before or 'doing anything'}\n")
        return 0 if before else 128 + name
    if found is not None:  # start-up's handlers (pipeline.startup) take over from those found here
        signal.signal(signal.SIGTERM, found)
    return run(argv)


def service_stopped_before(argv: Sequence[str]) -> str | None:
    """What the service ``argv`` runs has not done yet at a stop during start-up; None for a command
    that is no service (``simulate --history`` writes a file). Told from ``argv`` alone: the stop may
    come before it is parsed.

    >>> service_stopped_before(["simulate", "--hist=h.csv"]), service_stopped_before(["run"])
    (None, 'consuming anything')
    """
    from pipeline.startup import STOPPED_BEFORE

    if argv[:1] == ["simulate"] and any(_abbreviates(arg.split("=", 1)[0], "--history") for arg in argv):
        return None
    return STOPPED_BEFORE.get(argv[0]) if argv else None


def _abbreviates(arg: str, option: str) -> bool:
    return len(arg) > 3 and option.startswith(arg)  # "--h" alone is --help or --hours as well
