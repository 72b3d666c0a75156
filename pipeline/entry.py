"""The entry of the installed ``dhag-pipeline`` script and of ``python -m pipeline``: it imports nothing
before :mod:`pipeline.cli`, whose imports (the settings, logging, the services' modules) take some
20 ms before its handlers of a stop during start-up are armed (:mod:`pipeline.startup`). A Ctrl-C in
them ends the command as one a moment later does, with one line and the same exit status, not a
traceback of ``KeyboardInterrupt``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main", "service_stopped_before"]


def main(argv: Sequence[str] | None = None) -> int:
    """:func:`pipeline.cli.main`, a Ctrl-C while it is imported included; returns the exit status."""
    try:
        from pipeline.cli import main as run
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C ends it at once, unsaid
        before = service_stopped_before(list(sys.argv[1:] if argv is None else argv))
        sys.stderr.write(f"SIGINT during start-up: stopped before {before or 'doing anything'}\n")
        return 0 if before else 128 + signal.SIGINT
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
