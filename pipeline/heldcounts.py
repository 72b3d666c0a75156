"""Counts of a batch held until its output is delivered.

When the broker does not take a batch's output, the daemon rewinds and processes the batch again
(:mod:`pipeline.daemon`), and the poison guard processes a batch that raised again in parts
(:mod:`pipeline.poison`). Counted as they happened, such a batch's records, alerts and dead letters
would be counted once per attempt: through a broker outage of two minutes, retried every few seconds,
``dhag_alerts_opened_total`` would count one episode a dozen times. So the processor adds its counts
through :class:`HeldCounts`: inside a savepoint they wait, and they reach the metrics only when the
outermost savepoint is released (the output delivered); a rollback drops them, as it undoes the alert
state (:class:`pipeline.trackers.Trackers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["HeldCounts"]


class HeldCounts:
    """Metric updates (``add(fn, *args)`` calls ``fn(*args)``), held while a savepoint is open.

    >>> from prometheus_client import CollectorRegistry, Counter
    >>> opened = Counter("demo_opened", "Demo.", registry=CollectorRegistry())
    >>> counts = HeldCounts()
    >>> outer = counts.savepoint()
    >>> counts.add(opened.inc, 2)
    >>> inner = counts.savepoint()
    >>> counts.add(opened.inc, 5)
    >>> counts.rollback(inner)  # the inner attempt failed: its 5 go
    >>> opened._value.get()  # nothing counted before the outermost release
    0.0
    >>> counts.release(outer)
    >>> opened._value.get()
    2.0
    >>> counts.add(opened.inc)  # no savepoint open: counted at once
    >>> opened._value.get()
    3.0
    """

    def __init__(self) -> None:
        self._held: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._marks: list[int] = []  # per open savepoint, len(_held) when it was taken

    def add(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` now, or when the outermost savepoint is released."""
        if self._marks:
            self._held.append((fn, args))
        else:
            fn(*args)

    def savepoint(self) -> int:
        """Hold what is added from now on; pass the result to :meth:`rollback` or :meth:`release`."""
        self._marks.append(len(self._held))
        return len(self._marks)

    def rollback(self, point: int) -> None:
        """Drop what was added since ``point`` (and end it and every point taken after it)."""
        del self._held[self._marks[point - 1] :]
        del self._marks[point - 1 :]

    def release(self, point: int) -> None:
        """Keep what was added since ``point``; the outermost release applies everything held."""
        del self._marks[point - 1 :]
        if not self._marks:
            held, self._held = self._held, []
            for fn, args in held:
                fn(*args)
