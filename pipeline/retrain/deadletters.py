"""The retrainer's refused labels on their way to ``operator-labels.dlq``, settled once per poll.

kafka-python's ``flush`` does not raise for a send the broker refused, so each send's result is kept and
checked after the flush (:meth:`DeadLetters.settle`). A label waiting for its alert leaves the pending
table only once its dead letter is acknowledged; a label refused on arrival has its offset committed
only once its dead letter is acknowledged (the service reads the poll again otherwise). So an outage
of the DLQ loses no label.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from pipeline.labels import LabelReason, dlq_headers
from pipeline.labelstore import LabelStore, Source
from pipeline.metrics import RetrainMetrics
from pipeline.records import dlq_value
from pipeline.refusals import refusal_of

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)


@dataclass
class _Sent:
    future: Any
    reason: LabelReason
    source: Source
    detail: str
    pending: str | None  # the pending label's source, dropped from the store once acknowledged


class DeadLetters:
    """Dead letters sent since the last :meth:`settle`."""

    def __init__(self, topic: str, metrics: RetrainMetrics) -> None:
        self.topic = topic
        self.metrics = metrics
        self._sent: list[_Sent] = []
        self.acknowledged = 0  # of the latest settle
        self.error: BaseException | None = None  # the latest settle's first failure (a refusal?)

    def send(
        self,
        producer: KafkaProducer,
        key: bytes | None,
        raw: bytes | None,
        reason: LabelReason,
        detail: str,
        source: Source,
        first_seen: float,
        *,
        pending: str | None = None,
    ) -> None:
        """Send one refused label (``pending``: the source of the pending row it leaves once sent)."""
        value, cut = dlq_value(raw)
        headers = dlq_headers(
            reason,
            detail,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            first_seen=first_seen,
        )
        future = producer.send(self.topic, key=key, value=value, headers=headers + cut)
        self._sent.append(_Sent(future, reason, source, detail, pending))

    def settle(self, store: LabelStore) -> int:
        """After the producer's flush: count and log what the broker acknowledged, drop its pending rows
        from ``store``; returns how many dead letters were not acknowledged (they are sent again)."""
        sent, self._sent = self._sent, []
        failed, self.error = 0, None
        for item in sent:
            if not item.future.succeeded():  # refused, or not done within the flush's timeout
                failed += 1
                if self.error is None:
                    self.error = item.future.exception or KafkaTimeoutError("not acknowledged in time")
                continue
            if item.pending is not None:
                store.drop_pending(item.pending)
            self.metrics.labels_dlq.labels(str(item.reason)).inc()
            log.warning("label at %s dead-lettered: %s (%s)", item.source, item.reason, item.detail)
        self.acknowledged = len(sent) - failed
        if failed and refusal_of(self.error) is None:  # a refusal is the retrainer's to log, once
            log.error("%d label dead letter(s) not acknowledged by Kafka: they are sent again", failed)
        return failed
