"""The demo's screen: its standard output, whose reader may go away (``make run | head`` once head has its
lines, a pager quit; its terminal closed)."""

from __future__ import annotations

import errno
from typing import TextIO

from dhag.stopsignals import silenced
from pipeline.consolestreams import EXIT_READER_GONE

__all__ = ["EXIT_READER_GONE", "Screen"]


class Screen:
    """Writes to ``out`` until its reader goes away (``BrokenPipeError``; ``EIO`` from a terminal that
    hung up); from then on drops what it is given, ``gone`` says so, and ``out`` points at the null
    device, so that neither what its buffer still holds nor Python's last flush as it exits is refused
    again (a traceback). Any other error writing (a full disk) is raised.

    >>> import io
    >>> class Pipe(io.StringIO):
    ...     def flush(self):
    ...         raise BrokenPipeError(32, "Broken pipe")
    >>> screen = Screen(Pipe())
    >>> screen.write("summary\\n"), screen.gone, screen.flush(), screen.gone, screen.write("more\\n")
    (8, False, None, True, 5)
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.out.write(text)
            except OSError as exc:
                self._lost(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.out.flush()
            except OSError as exc:
                self._lost(exc)

    def _lost(self, exc: OSError) -> None:
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EIO:
            raise exc
        self.gone = True
        silenced(self.out)
