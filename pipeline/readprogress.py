"""A progress line on a terminal while a console reads a topic whole (``dhag-pipeline alerts`` without
``--since``, ``label`` of an old alert): months of alerts take tens of seconds to read, and a command
that says nothing for that long looks hung.

Written to standard error only when it is a terminal, and only once a read has taken
:data:`AFTER_S`: ``alerts: read 120,000 records of anomaly-alerts (8 s); --since 1d reads less``
(cut to the terminal's width), redrawn in place at most every :data:`EVERY_S`, and erased
(:meth:`ReadProgress.clear`) before anything else is said or listed. A pipe or a file never gets it:
scripts read stderr as before.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["AFTER_S", "EVERY_S", "ReadProgress"]

#: A read shorter than this says nothing (seconds).
AFTER_S = 2.0
#: How often the line is redrawn at most (seconds).
EVERY_S = 0.5
#: Records read between two looks at the clock.
_STRIDE = 500


class ReadProgress:
    """The progress line of ``command``'s reads on ``err`` (nothing unless ``err`` is a terminal);
    ``whole``: the reads start at the topics' start (no ``--since``), which the line says how to
    shorten."""

    def __init__(self, err: TextIO, command: str, *, whole: bool) -> None:
        self.err, self.command, self.whole = err, command, whole
        self.shown = _terminal(err)
        self.started = time.monotonic()
        self.drawn_at: float | None = None
        self.width = 0

    def counted(self, records: Iterable[Any], topic: str) -> Iterator[Any]:
        """``records`` as they come, said on the line as they are counted."""
        for count, record in enumerate(records, 1):
            if self.shown and count % _STRIDE == 0:
                self._draw(topic, count)
            yield record

    def _draw(self, topic: str, count: int) -> None:
        now = time.monotonic()
        if now - self.started < AFTER_S or (self.drawn_at is not None and now - self.drawn_at < EVERY_S):
            return
        hint = "; --since 1d reads less" if self.whole else ""
        text = f"{self.command}: read {count:,} records of {topic} ({now - self.started:.0f} s){hint}"
        text = text[: shutil.get_terminal_size().columns - 1]  # a wrapped line could not be redrawn
        self.err.write("\r" + text + " " * max(self.width - len(text), 0))
        self.err.flush()
        self.drawn_at, self.width = now, max(self.width, len(text))

    def clear(self) -> None:
        """Erase the line, if drawn, so that what is said next starts a line of its own."""
        if self.width:
            self.err.write("\r" + " " * self.width + "\r")
            self.err.flush()
            self.width = 0


def _terminal(err: TextIO) -> bool:
    try:
        return err.isatty()
    except (OSError, ValueError):  # closed, or no file behind it
        return False
