"""What the retrainer answers on ``/ready`` and ``/live`` (:mod:`pipeline.probes`)."""

from __future__ import annotations

import threading
import time
from typing import Any

from pipeline.config import Settings

__all__ = ["Probed"]

SNAPSHOT_S = 60.0  # a run's start reads the label store on the loop thread


class Probed:
    """The retrainer's probes: ready once its consumer is open and until it stops; live while its loop
    polls (the training runs in its own thread, so the loop polls on through it)."""

    settings: Settings
    _stop: threading.Event
    _consumer: Any
    _beat: float

    def not_ready(self) -> str | None:
        """Why the retrainer does not consume yet, or None."""
        if self._stop.is_set():
            return "stopping"
        return "connecting to Kafka" if self._consumer is None else None

    def not_live(self) -> str | None:
        """Why the retrainer's loop looks stuck, or None: it has not polled for longer than a poll,
        its broker calls and a run's start may take."""
        k = self.settings.kafka
        limit_s = (k.max_poll_interval_ms + 3 * k.request_timeout_ms) / 1000 + SNAPSHOT_S
        idle_s = time.monotonic() - self._beat
        return f"the loop has not polled for {idle_s:.0f} s" if idle_s > limit_s else None
