"""What the retrainer answers on ``/ready`` and ``/live`` (:mod:`pipeline.probes`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pipeline.config import Settings
from pipeline.probes import NotReady, loop_stuck
from pipeline.retrain.outage import Outage

__all__ = ["Probed"]

SNAPSHOT_S = 60.0  # a run's start reads the label store on the loop thread


class Probed:
    """The retrainer's probes: ready once its consumer is open, while Kafka neither refuses it nor fails
    it, and until it stops; live while its loop polls (the training runs in its own thread, so the loop
    polls on through it)."""

    settings: Settings
    bootstrap: str
    _stop: threading.Event
    _consumer: Any
    _beat: float
    refusal_reasons: Callable[[], list[NotReady]]
    outage: Outage

    def not_ready(self) -> list[NotReady] | None:
        """Why the retrainer does not consume yet, or None."""
        if self._stop.is_set():
            return [NotReady("", "stopping")]
        if self._consumer is None:  # starting, or its start retried while Kafka is away
            connecting = NotReady("kafka", "connecting", f"the brokers at {self.bootstrap}")
            return self.outage.reasons() or [connecting]
        # Kafka refusing it (credentials, an ACL: pipeline.retrain.refused), named by the topic's role;
        # Kafka away (pipeline.retrain.outage): "failing".
        return self.refusal_reasons() + self.outage.reasons() or None

    def not_live(self) -> str | None:
        """Why the retrainer's loop looks stuck, or None: it has not polled for longer than a poll,
        its broker calls and a run's start may take."""
        return loop_stuck(self._beat, self.settings.kafka, SNAPSHOT_S, "polled")
