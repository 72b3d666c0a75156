"""What the ``models`` command says on standard output when that output refuses it (its reader gone:
``models list | head -0``; a full disk): never taken for a fault of the registry, which the command's
refusals of an ``OSError`` name (:mod:`pipeline.modelcmd`)."""

from __future__ import annotations

from typing import TextIO

from dhag.stopsignals import silenced
from pipeline.consolestreams import EXIT_READER_GONE, said_on_stderr, why_refused

__all__ = ["EXIT_READER_GONE", "EXIT_UNWRITTEN", "Said", "output_refused"]

EXIT_UNWRITTEN = 1  # the output of a command whose product it is refused (a full disk)
#: The actions whose product is what they print: a refused output is their failure.
_READ_ONLY = ("list", "show")


class Said:
    """A standard output written line by line, flushed at each write, that keeps, rather than raises, a
    write it refuses: what is written from then on is kept (``lost``) for :func:`output_refused`."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.refused: OSError | None = None
        self.lost: list[str] = []

    def write(self, text: str) -> int:
        if self.refused is None:
            try:
                self._out.write(text)
                self._out.flush()
                return len(text)
            except OSError as exc:
                self.refused = exc
                silenced(self._out)  # what its buffer holds is not refused again as Python exits
        self.lost.append(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Each write is flushed."""

    def isatty(self) -> bool:
        """Whether the output is a terminal, which ``models list`` fits its table to."""
        return self._out.isatty()


def output_refused(said: Said, action: str, code: int, err: TextIO) -> int:
    """The exit code of ``models action``, ended with ``code``, whose output ``said`` refused a write:
    ``list`` and ``show``, whose product it is, end quietly with 141 for a reader gone, else say why in
    one line and end with 1; any other action, whose change the output only reports, has what it would
    have said said on stderr, after a line saying why, and keeps its code (the change is done, or was
    refused, as that says).

    >>> import errno, io
    >>> class Full(io.StringIO):
    ...     def write(self, text):
    ...         raise OSError(errno.ENOSPC, "No space left on device")
    >>> said = Said(Full())
    >>> said.write("v2 is current (was v1)\\n")
    23
    >>> err = io.StringIO()
    >>> output_refused(said, "promote", 0, err), err.getvalue().splitlines()
    (0, ['models promote: standard output refused its lines (No space left on device):', \
'v2 is current (was v1)'])
    """
    exc = said.refused
    if exc is None:
        return code
    if action in _READ_ONLY:
        if isinstance(exc, BrokenPipeError):
            return EXIT_READER_GONE
        said_on_stderr(err, f"models {action}: cannot write to standard output: {exc.strerror or exc}\n", [])
        return EXIT_UNWRITTEN
    said_on_stderr(
        err, f"models {action}: standard output refused its lines ({why_refused(exc)}):\n", said.lost
    )
    return code
