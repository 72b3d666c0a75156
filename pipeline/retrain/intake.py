"""How the retrainer takes in alerts and operator labels: each event is checked before the label store
keeps it, and a label that cannot be kept goes to ``operator-labels.dlq`` with its reason.

Labels naming an alert not seen yet wait in the store (pending) for ``label_retry_s``; nothing here
stops the loop on a bad event, which it would meet again after every restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer

from pipeline.config import RetrainSettings
from pipeline.labels import LabelError, LabelReason, parse_label
from pipeline.labelstore import LabelStore, PendingLabel, Source
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.alertfeed import AlertEventError, alert_event_of
from pipeline.retrain.deadletters import DeadLetters

__all__ = ["Intake"]

log = logging.getLogger(__name__)


class Intake:
    """The retrainer's intake of ``anomaly-alerts`` and ``operator-labels`` (a mixin of the service)."""

    cfg: RetrainSettings
    store: LabelStore
    metrics: RetrainMetrics
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    _dead_letters: DeadLetters
    _watched: dict[str, float]

    def _alerts(self, messages: list[Any]) -> None:
        for msg in messages:
            try:
                event = alert_event_of(msg.value)
            except AlertEventError as exc:
                self.metrics.alerts_refused.inc()
                log.warning(
                    "alert event at %s/%d/%d not recorded: %s", msg.topic, msg.partition, msg.offset, exc
                )
                continue
            self.store.add_alert(event)

    def _received_now(self) -> float:
        """The wall clock, never earlier than its last reading here: labels of one partition rank in the
        order they came (:func:`pipeline.labelstore.in_label_order`), which a clock stepped back would
        turn round."""
        if not hasattr(self, "_received"):  # across a restart too: from the last label stored
            self._received = self.store.last_received()
        self._received = max(self.clock(), self._received)
        return self._received

    def _labels(self, messages: list[Any], producer: KafkaProducer) -> None:
        now = self._received_now()
        for msg in messages:
            source = Source.of(msg.topic, msg.partition, msg.offset, msg.value)
            try:
                label = parse_label(msg.value, max_bytes=self.cfg.max_label_bytes)
            except LabelError as exc:
                self._dead_letters.send(producer, msg.key, msg.value, exc.reason, exc.detail, source, now)
                continue
            self.metrics.labels_received.labels(label.label).inc()
            if label.alert_id is not None and not self.store.has_alert(label.alert_id):
                self.store.add_pending(label.alert_id, msg.value, source, first_seen=now)
            else:
                self.store.add_label(label, source, received_at=now)

    def _retry_pending(self, producer: KafkaProducer) -> None:
        # A label expires once it has waited label_retry_s by the wall clock (which outlives a restart)
        # and by this process's monotonic clock (which a step of the wall clock cannot move forward).
        now, ticks = self.clock(), self.monotonic()
        waiting = self.store.pending()
        self._watched = {item.source: self._watched.get(item.source, ticks) for item in waiting}
        for item in waiting:
            if self.store.has_alert(item.alert_id):
                try:
                    label = parse_label(item.raw, max_bytes=self.cfg.max_label_bytes)
                except LabelError as exc:  # valid when it came, not since a setting changed (a size limit)
                    self._dead_letter(producer, item, exc.reason, exc.detail)
                    continue
                # It ranks by when it came, not when its alert did (the label that came last counts).
                self.store.add_label(label, Source.parse(item.source), received_at=item.first_seen)
                self.store.drop_pending(item.source)
            elif (
                self._waited(now - item.first_seen, ticks - self._watched[item.source])
                >= self.cfg.label_retry_s
            ):
                detail = f"alert {item.alert_id!r} not seen within {self.cfg.label_retry_s:g} s"
                self._dead_letter(producer, item, LabelReason.UNKNOWN_ALERT, detail)

    @staticmethod
    def _waited(wall: float, ticks: float) -> float:
        """How long a pending label has waited: the shorter of the wall clock's and the monotonic
        clock's count, or the monotonic one alone when the wall clock reads earlier than when the label
        came (it ran ahead, then was corrected: its count would stay negative for as long)."""
        return ticks if wall < 0 else min(wall, ticks)

    def _dead_letter(
        self, producer: KafkaProducer, item: PendingLabel, reason: LabelReason, detail: str
    ) -> None:
        """Send a pending label to the DLQ; it leaves the pending table once the broker has it."""
        source, key = Source.parse(item.source), item.alert_id.encode()
        self._dead_letters.send(
            producer, key, item.raw, reason, detail, source, item.first_seen, pending=item.source
        )
