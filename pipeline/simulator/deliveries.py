"""What became of the records a stream sent.

kafka-python's ``send`` only queues a record: it answers with a future, which its sender thread fails
when the broker does not take the record (gone for longer than the producer's ``delivery_timeout_ms``,
a topic deleted, a write refused), and nothing else says so. :class:`Deliveries` counts each future's
outcome; :class:`DeliveryWatch` logs once when deliveries start failing and once when they recover.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RECOVERED_S", "Deliveries", "DeliveryWatch"]

log = logging.getLogger("pipeline.simulator.stream")

# Deliveries failing are over once one succeeded after the last failure and none failed for this long:
# with one partition's leader gone, the others' records are taken between its failures.
RECOVERED_S = 5.0


class Deliveries:
    """Counts of the records sent (:meth:`track`), delivered and not; safe from any thread (kafka-python
    calls back from its sender thread, and from the sending one for a record failed at once).

    Example
    -------
    >>> from kafka.future import Future
    >>> from kafka.errors import KafkaTimeoutError
    >>> deliveries, taken, lost = Deliveries(), Future(), Future()
    >>> _ = deliveries.track(taken), deliveries.track(lost)
    >>> _ = taken.success(None), lost.failure(KafkaTimeoutError("Expiring 1 record(s)"))
    >>> deliveries.sent, deliveries.delivered, deliveries.undelivered, deliveries.failing()
    (2, 1, 1, True)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.sent = 0
        self.delivered = 0
        self.undelivered = 0
        self.first_error: BaseException | None = None  # the run's first failure
        self.last_error: BaseException | None = None
        self._failed_at: float | None = None
        self._delivered_at: float | None = None

    def track(self, future: Any) -> Any:
        """Count the record whose send answered ``future`` (kafka-python's), and its outcome; ``future``."""
        with self._lock:
            self.sent += 1
        future.add_callback(self._delivered)
        future.add_errback(self._failed)
        return future

    def failing(self) -> bool:
        """Whether deliveries fail now: one failed, and none was delivered since or one failed within
        :data:`RECOVERED_S`."""
        with self._lock:
            if self._failed_at is None:
                return False
            if self._delivered_at is None or self._delivered_at <= self._failed_at:
                return True
            return self._clock() - self._failed_at < RECOVERED_S

    def _delivered(self, _metadata: Any) -> None:
        with self._lock:
            self.delivered += 1
            self._delivered_at = self._clock()

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            self.undelivered += 1
            self.first_error = self.first_error or error
            self.last_error = error
            self._failed_at = self._clock()


class DeliveryWatch:
    """Says (a warning) once when ``deliveries`` start failing, naming ``where`` (``Kafka at HOST:PORT``)
    and ``what`` (``the records sent to TOPIC and TRUTH``), and once when they recover: :meth:`check`,
    from the sending loop."""

    def __init__(self, deliveries: Deliveries, where: str, what: str) -> None:
        self.deliveries, self.where, self.what = deliveries, where, what
        self.said_failing = False

    def check(self) -> None:
        failing = self.deliveries.failing()
        if failing == self.said_failing:
            return
        self.said_failing = failing
        d = self.deliveries
        if failing:
            log.warning(
                "%s is not taking %s: %s; still streaming, %d of the %d records sent so far not delivered",
                self.where,
                self.what,
                d.last_error,
                d.undelivered,
                d.sent,
            )
        else:
            log.warning(
                "%s takes %s again: %d of the %d records sent so far not delivered",
                self.where,
                self.what,
                d.undelivered,
                d.sent,
            )
