"""The daemon's producer side: send a batch's output and wait until the broker acknowledged all of it.

The daemon commits a batch's offsets only after :meth:`Delivery.deliver` returned, so every alert,
score and dead-letter record of a committed batch is on the broker (at-least-once). A failed delivery
raises :class:`DeliveryError`; the daemon then rewinds the batch, calls :meth:`Delivery.replace` and
retries after a backoff. A record refused for its size is no failure to retry: it goes to the
dead-letter topic in its place (:mod:`pipeline.oversize`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from pipeline.backoff import ThrottledLog
from pipeline.batchoutput import Outgoing
from pipeline.brokerlink import BrokerHealth, delivery_timeout_ms, new_producer
from pipeline.config import KafkaSettings
from pipeline.oversize import SIZE_REFUSALS, output_of, size, smaller
from pipeline.refusals import refusal_of

__all__ = ["Delivery", "DeliveryError"]

log = logging.getLogger("pipeline.daemon")

FLUSH_SLICE_S = 0.5  # a flush waits in slices this long, to see a shutdown's deadline come
TOO_LARGE_LOG_S = 60.0  # records refused for their size are logged at most this often per output


class DeliveryError(Exception):
    """A batch's output could not be delivered; the batch is rewound and retried."""


class Delivery:
    """Owns the daemon's producer (``acks=all``); built by :meth:`connect`, rebuilt after a failure."""

    def __init__(
        self,
        kafka: KafkaSettings,
        bootstrap_servers: str,
        health: BrokerHealth,
        *,
        give_up_at: Callable[[], float] = lambda: math.inf,
    ) -> None:
        self.kafka = kafka
        self.bootstrap_servers = bootstrap_servers
        self.health = health
        # When a flush stops waiting before kafka.request_timeout_ms (time.monotonic()): a shutdown's
        # deadline, so that a slow broker does not hold the daemon past its grace.
        self.give_up_at = give_up_at
        self.producer: KafkaProducer | None = None
        self._throttled = ThrottledLog(log, TOO_LARGE_LOG_S)

    def connect(self) -> None:
        """Build the producer (raises :class:`~kafka.errors.KafkaError` when the broker is unreachable)."""
        self.producer = new_producer(self.kafka, self.bootstrap_servers)

    def deliver(self, messages: list[Outgoing]) -> None:
        """Send and flush; raise :class:`DeliveryError` unless the broker acknowledged every message.
        A message refused for its size is sent again smaller, as a dead letter
        (:mod:`pipeline.oversize`); a dead-letter topic that takes no dead letter at all raises
        :class:`~pipeline.errors.ConfigError`."""
        if not messages:
            return
        while messages:
            refused = self._send(messages)
            topics = self.kafka.topics
            messages = []
            for message, error in refused:
                messages.append(smaller(topics, message, error))  # (raises when it cannot be smaller)
                output = output_of(topics, message.topic)
                self.health.metrics.outputs_too_large.labels(output).inc()
                self._throttled.log(
                    output,
                    logging.ERROR,
                    "a record of %d bytes for topic %r was refused as too large (%s): sent to the "
                    "dead-letter topic %s; check the topic's max.message.bytes",
                    size(message),
                    message.topic,
                    type(error).__name__,
                    "without its value" if message.topic == topics.dlq_topic else "instead",
                )
        self.health.success("produce")

    def _send(self, messages: list[Outgoing]) -> list[tuple[Outgoing, BaseException]]:
        """Send and flush ``messages``; the ones refused for their size, with their errors. Raise
        :class:`DeliveryError` unless the broker acknowledged every other one."""
        refused: list[tuple[Outgoing, BaseException]] = []
        try:
            if self.producer is None:
                self.connect()
            assert self.producer is not None
            futures = []
            for m in messages:
                try:
                    futures.append(
                        (m, self.producer.send(m.topic, key=m.key, value=m.value, headers=m.headers or None))
                    )
                except SIZE_REFUSALS as exc:  # over the producer's max_request_size: never sent
                    refused.append((m, exc))
            self._flush(self.producer)
        except KafkaError as exc:
            raise DeliveryError(f"producing {len(messages)} messages failed: {exc}") from exc
        failed = [(m, f.exception) for m, f in futures if f.failed()]
        refused += [(m, e) for m, e in failed if isinstance(e, SIZE_REFUSALS)]
        failed = [(m, e) for m, e in failed if not isinstance(e, SIZE_REFUSALS)]
        if failed:
            topics = ", ".join(sorted({m.topic for m, _ in failed}))
            # A refusal first, whatever failed beside it: it is what the operator must fix (its cause).
            errors = [e for _, e in failed]
            first = next((e for e in errors if refusal_of(e) is not None), errors[0])
            raise DeliveryError(
                f"{len(failed)} of {len(messages)} messages to {topics} not acknowledged: {first}"
            ) from first
        return refused

    def _flush(self, producer: KafkaProducer) -> None:
        """Wait for every acknowledgement, for up to the request timeout or until :attr:`give_up_at`;
        raises :class:`~kafka.errors.KafkaTimeoutError` when they did not all come."""
        started = time.monotonic()
        until = started + self.kafka.request_timeout_ms / 1000
        while True:
            # A slice at least: a flush that begins after give_up_at still gets a healthy broker's answer.
            end = min(until, max(self.give_up_at(), started + FLUSH_SLICE_S))
            try:
                producer.flush(timeout=max(0.0, min(FLUSH_SLICE_S, end - time.monotonic())))
                return
            except KafkaTimeoutError:
                if time.monotonic() >= end:
                    raise

    def replace(self) -> None:
        """Drop the producer after a failed delivery; the next delivery builds a fresh one.

        A producer can be left in a fatal state by a broker that lost its state (a restarted in-memory
        broker refuses the old producer id) and would then fail every later send; a new one starts over.
        """
        self._drop(timeout=0, level=logging.DEBUG, what="closing the failed producer")

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush what is buffered and close the producer (bounded: ``timeout_s``)."""
        self._drop(timeout=timeout_s, level=logging.WARNING, what="closing the producer failed")

    def _drop(self, *, timeout: float, level: int, what: str) -> None:
        producer, self.producer = self.producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout)
        except KafkaError as exc:
            log.log(level, "%s: %s", what, exc)
            _close_when_expired(producer, delivery_timeout_ms(self.kafka) / 1000)


def _close_when_expired(producer: KafkaProducer, expiry_s: float) -> None:
    """kafka-python's ``close`` flushes first and raises when records are still unsent, before it stops
    the producer's network thread: each broker outage would leave a thread, its sockets and a
    connection behind for the life of the daemon. Every record fails by itself within ``expiry_s`` of
    its send (the producer's ``delivery_timeout_ms``), so a close given that long completes: it runs on
    a thread of its own, and the daemon goes on meanwhile (the records are sent again from the
    uncommitted input)."""

    def close() -> None:
        try:
            producer.close(timeout=expiry_s + 1.0)
        except Exception as exc:  # noqa: BLE001 - nothing more to do for a producer given up
            log.warning("closing a producer given up failed: %s", exc)

    threading.Thread(target=close, name="dhag-producer-close", daemon=True).start()
