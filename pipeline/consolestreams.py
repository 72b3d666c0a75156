"""The consoles' standard streams: ``alerts`` and ``label`` (:mod:`pipeline.alertscmd`) run with one closed,
as a cron job or a supervisor may start them (``2>&-``, ``>&-``); a command whose standard output refuses
what it says of a change it made (``label``, ``models``: its reader gone, a full disk) says it on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TextIO

from dhag.stopsignals import silenced

__all__ = ["EXIT_READER_GONE", "closed_streams", "said_on_stderr", "why_refused"]

EXIT_READER_GONE = 141  # 128 + SIGPIPE, as `dhag`'s commands and a shell's own tools say it


def closed_streams(command: str) -> str | None:
    """Standard streams closed (``2>&-``, ``>&-``: Python's ``sys.stderr`` or ``sys.stdout`` is None, and a
    socket opened next would take the descriptor): each is pointed at the null device, so that what
    would be said there is said nowhere; what to say instead of ``alerts``' list, which would have
    nowhere to go (``label`` writes its label all the same)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: fd
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the whole process
    if sys.stdout is not None:
        return None
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the whole process
    if command != "alerts":
        return None
    return "alerts: standard output is closed (>&-): the list has nowhere to go; nothing was read"


def why_refused(exc: OSError) -> str:
    """Why a standard output refused a write, in a few words.

    >>> why_refused(BrokenPipeError(32, "Broken pipe")), why_refused(OSError(28, "No space left on device"))
    ('its reader is gone', 'No space left on device')
    """
    return "its reader is gone" if isinstance(exc, BrokenPipeError) else exc.strerror or str(exc)


def said_on_stderr(err: TextIO, head: str, lines: Iterable[str]) -> None:
    """Say on ``err`` the line ``head`` (why, with its line break), then ``lines``, what standard output
    refused; a stderr gone too (``2>&1 | head -0``) says nothing, and is not refused again as Python
    exits."""
    try:
        err.write(head)
        err.writelines(lines)
        err.flush()
    except OSError:
        silenced(err)
