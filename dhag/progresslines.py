"""Training progress for a log: plain lines, where a terminal gets the redrawn bar.

``dhag train`` with stderr a log file, a pipe or a CI job's log draws no bar (each redraw would be kept
as a line of its own); a long training would then say nothing until it ends, and a job runner that
stops a job silent for some minutes would stop it. :class:`ProgressLines` is ``fit``'s ``on_epoch`` hook
for that case: it writes one line when each training (a member, a retry) begins its first epoch, then
at most one a minute.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class ProgressLines:
    """``fit(..., on_epoch=ProgressLines(max_epochs))``: a line per training started, then one a minute.

    >>> import io
    >>> out, now = io.StringIO(), iter([0.0, 30.0, 61.0, 62.0])
    >>> lines = ProgressLines(100, stream=out, clock=lambda: next(now))
    >>> for epoch in (1, 2, 3, 4):
    ...     lines({"epoch": float(epoch), "loss": 0.5, "ce_ratio": 0.9}, None)
    >>> print(out.getvalue(), end="")
    dhag train: epoch 1 of at most 100, 0 s: loss 0.5000, L_ce 0.90 of a constant predictor's
    dhag train: epoch 3 of at most 100, 61 s: loss 0.5000, L_ce 0.90 of a constant predictor's
    """

    def __init__(
        self,
        max_epochs: int,
        *,
        every_s: float = 60.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "dhag train",
    ) -> None:
        self.max_epochs = max_epochs
        self.name = name  # what each line starts with: the command that trains
        self.every_s = every_s
        self.stream = stream
        self.clock = clock
        self.started: float | None = None
        self.last: float | None = None

    def __call__(self, record: dict[str, float], score: Any) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        first = record.get("epoch") == 1.0
        if not first and self.last is not None and now - self.last < self.every_s:
            return
        self.last = now
        stream = self.stream if self.stream is not None else sys.stderr
        if stream is None:  # no stderr at all (pythonw, a closed descriptor): nothing to say it on
            return
        print(self.line(record, now - self.started), file=stream, flush=True)

    def line(self, record: dict[str, float], elapsed: float) -> str:
        """What one line says: the epoch, which training, the time since the first, the losses."""
        which = [
            f"{name} {int(record[name]) + offset}"
            for name, offset in (("member", 1), ("attempt", 0))
            if name in record and (name != "attempt" or record[name] > 1)
        ]
        training = f" ({', '.join(which)})" if which else ""
        said = f"{self.name}: epoch {int(record['epoch'])} of at most {self.max_epochs}{training}, "
        said += f"{elapsed:.0f} s: loss {record['loss']:.4f}"
        if "ce_ratio" in record:
            said += f", L_ce {record['ce_ratio']:.2f} of a constant predictor's"
        return said
