"""The DLQ ratio cap's consequence: when too many records of the window went to the dead-letter topic
(:class:`~pipeline.processing.DlqGuard`), the daemon pauses consumption, for ``dlq.resume_after_s`` or
until restart, and ``dhag_dlq_paused`` is 1 meanwhile. Called on the daemon's loop thread only."""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer

from pipeline.config import DlqSettings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import DlqGuard

__all__ = ["DlqPause"]

log = logging.getLogger("pipeline.daemon")


class DlqPause:
    """Whether consumption is paused by the DLQ ratio cap, and since when."""

    def __init__(self, dlq: DlqSettings, guard: DlqGuard, metrics: PipelineMetrics) -> None:
        self.dlq = dlq
        self.guard = guard
        self.metrics = metrics
        self.since: float | None = None

    @property
    def active(self) -> bool:
        """Whether consumption is paused."""
        return self.since is not None

    def pause(self, consumer: KafkaConsumer) -> None:
        """Pause every assigned partition and say why, loudly."""
        self.since = time.monotonic()
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

    def maybe_resume(self, consumer: KafkaConsumer) -> None:
        """Resume once ``dlq.resume_after_s`` has passed (never when it is unset)."""
        resume = self.dlq.resume_after_s
        if self.since is None or resume is None or time.monotonic() - self.since < resume:
            return
        consumer.resume(*consumer.paused())
        self.since = None
        self.guard.reset()
        self.metrics.dlq_paused.set(0)
        log.warning("DLQ pause over after %ss: consumption resumed", resume)
