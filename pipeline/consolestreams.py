"""The consoles (``alerts``, ``label``: :mod:`pipeline.alertscmd`) run with a standard stream closed, as a
cron job or a supervisor may start them (``2>&-``, ``>&-``)."""

from __future__ import annotations

import os
import sys

__all__ = ["closed_streams"]


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
