"""The DLQ ratio cap (:class:`DlqGuard`) and its consequence: when too many records of the window went
to the dead-letter topic, the daemon pauses consumption, for ``dlq.resume_after_s`` or
until restart, and ``dhag_dlq_paused`` is 1 meanwhile. Called on the daemon's loop thread only."""

from __future__ import annotations

import logging
import time
from collections import deque

from kafka import KafkaConsumer

from pipeline.config import DlqSettings
from pipeline.heldclock import HeldClock
from pipeline.metrics import PipelineMetrics

__all__ = ["DlqGuard", "DlqPause"]

log = logging.getLogger("pipeline.daemon")


class DlqGuard:
    """The DLQ ratio cap over the last ``window`` records (counted in whole batches).

    Example
    -------
    >>> g = DlqGuard(max_ratio=0.5, window=100, min_records=10)
    >>> g.add(total=20, dead=5), g.add(total=20, dead=30)
    (False, True)
    """

    def __init__(self, *, max_ratio: float, window: int, min_records: int) -> None:
        self.max_ratio = max_ratio
        self.window = window
        self.min_records = min_records
        self._batches: deque[tuple[int, int]] = deque()
        self._total = 0
        self._dead = 0

    @property
    def ratio(self) -> float:
        """The dead-lettered share of the window (0 when empty)."""
        return self._dead / self._total if self._total else 0.0

    def add(self, *, total: int, dead: int) -> bool:
        """Count a batch; True when the cap is exceeded over a window of at least ``min_records``."""
        self._batches.append((total, dead))
        self._total += total
        self._dead += dead
        while len(self._batches) > 1 and self._total - self._batches[0][0] >= self.window:
            old_total, old_dead = self._batches.popleft()
            self._total -= old_total
            self._dead -= old_dead
        return self._total >= self.min_records and self.ratio > self.max_ratio

    def snapshot(self) -> tuple[tuple[tuple[int, int], ...], int, int]:
        """The window as it is, for :meth:`restore`: a batch whose output was not delivered is
        processed again, and must be counted once.

        >>> g = DlqGuard(max_ratio=0.5, window=100, min_records=10)
        >>> before = g.snapshot()
        >>> g.add(total=20, dead=15)
        True
        >>> g.restore(before)
        >>> g.ratio, g.add(total=20, dead=5)
        (0.0, False)
        """
        return tuple(self._batches), self._total, self._dead

    def restore(self, snapshot: tuple[tuple[tuple[int, int], ...], int, int]) -> None:
        """Put back the window of a :meth:`snapshot`."""
        batches, self._total, self._dead = snapshot
        self._batches = deque(batches)

    def reset(self) -> None:
        """Forget the window (after a resume)."""
        self._batches.clear()
        self._total = self._dead = 0


class DlqPause:
    """Whether consumption is paused by the DLQ ratio cap, and since when."""

    def __init__(
        self, dlq: DlqSettings, guard: DlqGuard, metrics: PipelineMetrics, clock: HeldClock | None = None
    ) -> None:
        self.dlq = dlq
        self.guard = guard
        self.metrics = metrics
        self.since: float | None = None
        # The hysteresis's clock stands still while consumption is paused (pipeline.heldclock).
        self.clock = clock if clock is not None else HeldClock()

    @property
    def active(self) -> bool:
        """Whether consumption is paused."""
        return self.since is not None

    def pause(self, consumer: KafkaConsumer) -> None:
        """Pause every assigned partition and say why, loudly."""
        self.since = time.monotonic()
        self.clock.hold("dlq")
        consumer.pause(*consumer.assignment())
        self.metrics.dlq_paused.set(1)
        resume = self.dlq.resume_after_s
        log.error(
            "DLQ ratio %.2f over the last %d records exceeds dlq.max_ratio %.2f: consumption PAUSED %s",
            self.guard.ratio,
            self.dlq.window,
            self.dlq.max_ratio,
            f"for {resume}s" if resume else "until restart",
        )

    def maybe_resume(self, consumer: KafkaConsumer) -> bool:
        """Resume once ``dlq.resume_after_s`` has passed (never when it is unset); True when it did."""
        resume = self.dlq.resume_after_s
        if self.since is None or resume is None or time.monotonic() - self.since < resume:
            return False
        consumer.resume(*consumer.paused())
        self.clock.release("dlq")
        self.since = None
        self.guard.reset()
        self.metrics.dlq_paused.set(0)
        log.warning("DLQ pause over after %ss: consumption resumed", resume)
        return True
