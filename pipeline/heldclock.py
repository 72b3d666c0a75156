"""The alert hysteresis's clock: ``time.monotonic()`` less the time the daemon could not read.

An episode resolves after ``alerts.quiet_s`` without a score over the threshold, and an asset that sent
nothing for that long is forgotten (or its open episode resolved as ``silence``). Both are about the
plant, so neither may count time in which the daemon read nothing for reasons of its own: consumption
paused by the DLQ cap, or Kafka unusable. The clock is held while any such reason lasts (the reasons may
overlap: the time counts once) and runs on when the last one ends. While the daemon reads, a partition
whose records wait behind another's is judged as of when it was last read through
(:mod:`pipeline.readthrough`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["HeldClock"]


class HeldClock:
    """A monotonic clock that stands still while held.

    Example
    -------
    >>> now = [100.0]
    >>> clock = HeldClock(lambda: now[0])
    >>> clock.hold("dlq"); now[0] = 160.0; clock.hold("broker"); now[0] = 200.0
    >>> clock.release("dlq"); now[0] = 230.0; clock.release("broker"); now[0] = 240.0
    >>> clock()  # 130 s held (100 to 230), counted once
    110.0
    """

    def __init__(self, monotonic: Callable[[], float] | None = None) -> None:
        self._monotonic = monotonic or (lambda: time.monotonic())  # looked up at each call
        self._held_s = 0.0
        self._since: float | None = None
        self._reasons: set[str] = set()

    def hold(self, reason: str) -> None:
        """Stand still from now while ``reason`` lasts."""
        if not self._reasons:
            self._since = self._monotonic()
        self._reasons.add(reason)

    def release(self, reason: str) -> None:
        """``reason`` is over; the clock runs on once no other holds it."""
        if reason not in self._reasons:
            return
        self._reasons.discard(reason)
        if not self._reasons and self._since is not None:
            self._held_s += self._monotonic() - self._since
            self._since = None

    def holds(self, reason: str) -> bool:
        """Whether ``reason`` holds the clock now."""
        return reason in self._reasons

    def __call__(self) -> float:
        now = self._monotonic()
        return now - self._held_s - (now - self._since if self._since is not None else 0.0)
