"""Kafka away from the retrainer (no broker answers, a metadata update or a request timed out, a connection
lost), told apart from Kafka refusing it (:mod:`pipeline.retrain.refused`), and handled as the daemon
handles an outage (:class:`pipeline.brokerlink.BrokerHealth`):

- its start (connecting, taking its partitions, ``--once``'s end offsets) and its polls are retried
  after a capped exponential backoff (``kafka.backoff_initial_s`` to ``kafka.backoff_max_s``); a poll
  that returns nothing while no broker is connected is a failure too (``connection``), as kafka-python
  only retries that silently (while Kafka refuses the poll, that refusal's: :mod:`pipeline.retrain.refused`);
- the log says once per outage which operation failed with which error (again for each other one), and
  once when Kafka is back; ``/ready`` answers ``kafka: failing`` meanwhile;
- after ``kafka.unavailable_exit_s`` of it, :class:`~pipeline.errors.BrokerUnavailableError` ends the
  run: exit code 3, as the daemon's;
- an offset commit that fails (a rebalance of the group's other members, its coordinator moving) is no
  outage: the label store holds what each poll read with its own positions, which a start resumes from.
  Logged once until commits work again;
- label dead letters not acknowledged (a timeout, their topic's leader away) are no outage either while
  polls work: their labels are read and sent again after a backoff, logged once until they are
  acknowledged (``dhag_broker_failures_total{operation="dead_letter"}``: the daemons' rules on
  ``produce`` are theirs alone).

Nothing is lost: a failed poll stored and committed nothing, and what it had taken from the consumer is
sought back to (:meth:`pipeline.retrain.service.Retrainer._poll`). Every failure, refusals included, is
counted in ``dhag_broker_failures_total{operation}`` (the daemon's name and label).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pipeline.backoff import Backoff
from pipeline.brokerlink import connected
from pipeline.config import KafkaSettings
from pipeline.errors import BrokerUnavailableError
from pipeline.probes import NotReady

__all__ = ["Outage"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's

CONNECTION_CHECK_S = 1.0  # as the daemon's
NO_CONNECTION = ConnectionError("no connection to any broker")


class Outage:
    """The retrainer's Kafka outage under way, if any (see the module docstring)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        failures: Any,
        stop: threading.Event,
        bootstrap: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kafka, self.failures, self.stop, self.bootstrap = kafka, failures, stop, bootstrap
        self.monotonic = monotonic
        self.backoff = Backoff(kafka.backoff_initial_s, kafka.backoff_max_s)
        self.since: float | None = None  # when the outage under way began (self.monotonic())
        self._said: set[tuple[str, str]] = set()  # (operation, error type) logged in this outage
        self._commit: str | None = None  # the error type of the commits failing, once logged
        self._produce: str | None = None  # the error type of the dead letters failing, once logged
        self._checked: float | None = None

    def failed(self, operation: str, exc: BaseException) -> None:
        """Count ``exc``, log it when new to this outage, raise :class:`BrokerUnavailableError` after
        ``kafka.unavailable_exit_s`` of outage, else wait the backoff (cut short by a stop, and never past
        that moment)."""
        self.failures.labels(operation).inc()
        now = self.monotonic()
        if self.since is None:
            self.since = now
        down_for = now - self.since
        if (operation, type(exc).__name__) not in self._said:
            self._said.add((operation, type(exc).__name__))
            log.warning(
                "Kafka %s failed (for %.1fs now): %s; retried with backoff, nothing committed past what "
                "the label store holds; the retrainer stops (exit code 3) after kafka.unavailable_exit_s "
                "(%gs) without Kafka",
                operation,
                down_for,
                exc,
                self.kafka.unavailable_exit_s,
            )
        if down_for >= self.kafka.unavailable_exit_s:
            raise BrokerUnavailableError(
                f"Kafka at {self.bootstrap} unusable to the retrainer for {down_for:.0f}s "
                f"(kafka.unavailable_exit_s = {self.kafka.unavailable_exit_s:g}); last error: {exc}"
            )
        left = self.kafka.unavailable_exit_s - down_for
        self.stop.wait(max(0.0, min(self.backoff.next_delay(), left)))

    def refused(self, operation: str) -> None:
        """Kafka answered, refusing ``operation`` (:mod:`pipeline.retrain.refused`): a failure counted,
        but no outage (a refusal is retried until fixed, however long)."""
        self.failures.labels(operation).inc()
        self.ended()

    def ended(self) -> None:
        """Kafka answered: the outage under way, if any, is over."""
        if self.since is not None:
            log.info("Kafka reachable again after %.1fs", self.monotonic() - self.since)
            self.since = None
            self._said.clear()
        self.backoff.reset()

    def polled(self, consumer: Any, held: int, *, refused: bool = False) -> bool | None:
        """A poll returned ``held`` records: records end the outage; none, while no broker is connected
        (checked at most once a second), is a failure: an outage, but while Kafka refuses the poll
        (``refused``) that refusal's, counted and no outage (a refused handshake closes the connection,
        and kafka-python fetches nothing until it reconnects). Returns whether Kafka was seen working
        (records, or a broker connected), False when no broker was connected, None when not checked."""
        if held:
            self.ended()
            return True
        now = self.monotonic()
        if self._checked is not None and now - self._checked < CONNECTION_CHECK_S:
            return None
        self._checked = now
        if connected(consumer):
            self.ended()
            return True
        if refused:
            self.refused("connection")
        else:
            self.failed("connection", NO_CONNECTION)
        return False

    def commit_failed(self, exc: BaseException, *, refused: bool) -> None:
        """An offset commit failed (``refused``: the refusal's watch logs it): counted, logged once."""
        self.failures.labels("commit").inc()
        if refused or self._commit == type(exc).__name__:
            return
        self._commit = type(exc).__name__
        log.warning(
            "offset commit failed: %s; the label store keeps what each poll read with its own positions, "
            "which a restart resumes from: nothing is lost (logged once until commits work again)",
            exc,
        )

    def produce_failed(self, exc: BaseException) -> None:
        """Label dead letters were not acknowledged, for a reason other than a refusal (a timeout, a
        leader away): counted, logged once until they are; the poll's labels are read and sent again
        (:mod:`pipeline.retrain.deadletters`) after the backoff :meth:`producing` asks for."""
        self.failures.labels("dead_letter").inc()
        if self._produce is None:
            log.warning(
                "label dead letters not acknowledged: %s; their labels are read again and sent again with "
                "backoff, nothing committed past them (logged once until dead letters are acknowledged)",
                exc,
            )
        self._produce = type(exc).__name__

    def produce_worked(self) -> None:
        """Label dead letters were acknowledged."""
        if self._produce is not None:
            log.info("label dead letters acknowledged again")
            self._produce = None

    @property
    def producing(self) -> bool:
        """Whether the latest label dead letters failed (not refused): the next poll waits a backoff."""
        return self._produce is not None

    def commit_worked(self) -> None:
        """An offset commit worked."""
        if self._commit is not None:
            log.info("offset commits work again")
            self._commit = None

    def reasons(self) -> list[NotReady]:
        """``/ready``'s reason while the outage lasts (the brokers' addresses only the log gets)."""
        if self.since is None:
            return []
        return [NotReady("kafka", "failing", f"the brokers at {self.bootstrap}", self._ready_since())]

    def _ready_since(self) -> float:
        # /ready's text counts from time.monotonic(), which a test's clock need not be.
        assert self.since is not None
        return time.monotonic() - (self.monotonic() - self.since)
