"""The retrainer's refused labels on their way to ``operator-labels.dlq``, settled once per poll.

kafka-python's ``flush`` does not raise for a send the broker refused, so each send's result is kept and
checked after the flush (:meth:`DeadLetters.settle`). A label waiting for its alert leaves the pending
table only once its dead letter is acknowledged; a label refused on arrival has its offset committed
only once its dead letter is acknowledged (the service reads the poll again otherwise). So an outage
of the DLQ loses no label.

A dead letter refused for its size (over the topic's ``max.message.bytes``, or the producer's 1 MiB)
would be refused on every attempt: :meth:`DeadLetters.flush` sends it again at once without its value
(:func:`~pipeline.oversize.without_value`: its label stays in its topic at ``dlq.source.*``, its size
and SHA-256 in the headers), counted in ``dhag_labels_dlq_too_large_total`` and logged. A labels DLQ
that refuses even that stops the retrainer (:class:`~pipeline.errors.ConfigError`, exit code 2).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from pipeline.backoff import ThrottledLog
from pipeline.batchoutput import Outgoing
from pipeline.heldcounts import HeldCounts
from pipeline.labels import LabelReason
from pipeline.labelstore import LabelStore, Source
from pipeline.metrics import RetrainMetrics
from pipeline.oversize import SIZE_REFUSALS, size, without_value
from pipeline.records import dlq_detail, dlq_value
from pipeline.refusals import refusal_of

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)
_too_large_log = ThrottledLog(log, 60.0)


@dataclass
class _Sent:
    message: Outgoing
    reason: LabelReason
    source: Source
    detail: str
    pending: str | None  # the pending label's source, dropped from the store once acknowledged
    future: Any = None  # None: refused before it was sent (``refused`` says why)
    refused: BaseException | None = None

    def too_large(self) -> BaseException | None:
        """The size refusal of its latest send; None when it was not refused for its size."""
        if self.future is None:
            return self.refused if isinstance(self.refused, SIZE_REFUSALS) else None
        error = self.future.exception if self.future.failed() else None
        return error if isinstance(error, SIZE_REFUSALS) else None


class DeadLetters:
    """Dead letters sent since the last :meth:`settle`."""

    def __init__(self, topic: str, metrics: RetrainMetrics, counts: HeldCounts | None = None) -> None:
        self.topic = topic
        self.metrics = metrics
        self.counts = counts or HeldCounts()  # the retrainer's: held until its poll is stored
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
        item = _Sent(Outgoing(self.topic, key, value, headers + cut), reason, source, detail, pending)
        self._send(producer, item)
        self._sent.append(item)

    @staticmethod
    def _send(producer: KafkaProducer, item: _Sent) -> None:
        m = item.message
        try:
            item.future = producer.send(m.topic, key=m.key, value=m.value, headers=m.headers)
        except SIZE_REFUSALS as exc:  # over the producer's max_request_size: never sent
            item.future, item.refused = None, exc

    def flush(self, producer: KafkaProducer, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the dead letters' acknowledgements; those refused for their
        size are sent again without their value and waited for too (see the module). A flush that
        times out is left to :meth:`settle` (what was not acknowledged is sent again)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                producer.flush(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaError as exc:
                log.debug("label dead letters not all acknowledged in time: %s", exc)
                return
            refused = [(item, error) for item in self._sent if (error := item.too_large()) is not None]
            if not refused:
                return
            for item, error in refused:
                before = size(item.message)
                item.message = without_value(item.message, error, setting="kafka.topics.labels_dlq")
                self.counts.add(self.metrics.labels_dlq_too_large.inc)
                _too_large_log.log(
                    "too-large",
                    logging.ERROR,
                    "a dead letter of %d bytes for topic %r (the label at %s) was refused as too large "
                    "(%s): sent again without its value; check the topic's max.message.bytes",
                    before,
                    self.topic,
                    item.source,
                    type(error).__name__,
                )
                self._send(producer, item)

    def forget(self) -> None:
        """Forget the dead letters sent since the last :meth:`settle`: their poll was given up, and is
        read again (sending them again). The broker may hold one sent before twice: at least once."""
        self._sent = []

    def settle(self, store: LabelStore) -> int:
        """After :meth:`flush`: count and log what the broker acknowledged, drop its pending rows from
        ``store``; returns how many dead letters were not acknowledged (they are sent again)."""
        sent, self._sent = self._sent, []
        failed, self.error = 0, None
        for item in sent:
            if item.future is None or not item.future.succeeded():  # refused, or not done in time
                failed += 1
                if self.error is None:
                    future_error = item.future.exception if item.future is not None else item.refused
                    self.error = future_error or KafkaTimeoutError("not acknowledged in time")
                continue
            if item.pending is not None:
                store.drop_pending(item.pending)
            self.counts.add(self.metrics.labels_dlq.labels(str(item.reason)).inc)
            log.warning("label at %s dead-lettered: %s (%s)", item.source, item.reason, item.detail)
        self.acknowledged = len(sent) - failed
        if failed and refusal_of(self.error) is None:  # a refusal is the retrainer's to log, once
            log.error("%d label dead letter(s) not acknowledged by Kafka: they are sent again", failed)
        return failed


def dlq_headers(
    reason: LabelReason,
    detail: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    first_seen: float | None = None,
) -> list[tuple[str, bytes]]:
    """The DLQ headers of a refused label (the same names as the record DLQ's)."""
    return [
        ("dlq.reason", str(reason).encode()),
        ("dlq.detail", dlq_detail(detail)),
        ("dlq.source.topic", topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
        ("dlq.first_seen", f"{time.time() if first_seen is None else first_seen:.3f}".encode()),
    ]
