"""Kafka refusing the retrainer (credentials rotated or revoked, an ACL removed from one of its topics,
its consumer group or the cluster), told apart from Kafka being away by :mod:`pipeline.refusals`.

What the retrainer does with each refusal, and why nothing is lost:

- a poll refused (Read on a topic, the credentials on a reconnect): nothing was read, stored or
  committed; retried after a backoff, from the same positions. The polls that come back empty between
  refused ones with no broker connected (a refused handshake closes the connection) are the refusal's,
  no outage, until no poll is refused for ``kafka.unavailable_exit_s``;
- label dead letters refused (Write on the labels' dead-letter topic): their labels are neither
  committed nor forgotten, but read again and sent again (:mod:`pipeline.retrain.deadletters`), after
  a backoff;
- an offset commit refused (Read on ``retrain.group_id``): the label store holds what the poll read,
  with its own positions, which a start resumes from (:mod:`pipeline.retrain.storepositions`); the loop
  goes on;
- at start (its group's offsets, its topics' partitions, ``--once``'s end offsets): a configuration
  error, exit code 2, as the credentials refused at start already are.

Each is counted in ``dhag_broker_refusals_total{operation,kind}`` (the daemon's name and labels), the log
says once per change which operation, which topic or group and which ACL or ``kafka.security`` setting
to check, and once when it ends; ``/ready`` names it by the topic's role meanwhile (no name, no address).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka.errors import KafkaError

from pipeline.backoff import Backoff
from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.metrics import RetrainMetrics
from pipeline.probes import NotReady
from pipeline.refusals import RefusalWatch, refusal_of
from pipeline.retrain.outage import NO_CONNECTION, Outage

__all__ = ["Refused"]

log = logging.getLogger("pipeline.retrain.service")  # its lines read as the retrainer's

_SIDES = ("poll", "produce", "commit")  # each refused and ended on its own
_THEN = {
    "poll": "retried with backoff; nothing is read, stored or committed until it is accepted",
    "produce": "the refused labels are read again and sent again, with backoff; nothing committed past them",
    "commit": "each poll's labels and readings are stored with the label store's own positions, which a "
    "restart resumes from: nothing is lost",
    "connect": "the retrainer stops (exit code 2)",
}


class Refused:
    """The retrainer's refusals (:class:`~pipeline.refusals.RefusalWatch`, one side per operation)."""

    settings: Settings
    bootstrap: str
    metrics: RetrainMetrics
    monotonic: Callable[[], float]
    _stop: threading.Event
    _dead_letters: Any
    _poll: Callable[[Any, Any], int]
    outage: Outage
    close: Callable[[], None]

    def _watch_refusals(self) -> None:
        kafka = self.settings.kafka
        self.refusals = RefusalWatch(
            kafka,
            self.metrics.broker_refusals,
            who="retrainer",
            group=self.settings.retrain.group_id,
            logger=log,
        )
        self._refusal_backoff = Backoff(kafka.backoff_initial_s, kafka.backoff_max_s)
        self._poll_refused_at = 0.0  # the latest refused poll (self.monotonic())

    def _refused_poll(self, consumer: Any, producer: Any) -> int:
        """One poll (:meth:`_poll`); one Kafka refuses is counted, logged once and retried after a
        backoff, as is one whose label dead letters it refused. One that fails otherwise (Kafka away) is
        an outage (:mod:`pipeline.retrain.outage`)."""
        try:
            held = self._poll(consumer, producer)
        except KafkaError as exc:
            if refusal_of(exc) is None:
                self.refusals.failed("poll", "poll", exc, self.monotonic())  # no refusal now, an outage
                self.outage.failed("poll", exc)  # backs off; raises after kafka.unavailable_exit_s
                return 0
            self.outage.refused("poll")
            self._poll_refused_at = self.monotonic()
            self.refusals.failed("poll", "poll", exc, self._poll_refused_at, then=_THEN["poll"])
            self._stop.wait(self._refusal_backoff.next_delay())
            return 0
        refused = self._polled(consumer, held)
        if refused or self.refusals.state("produce") is not None or self.outage.producing:
            self._stop.wait(self._refusal_backoff.next_delay())  # else the labels come back at once
        else:
            self._refusal_backoff.reset()
        return held

    def _polled(self, consumer: Any, held: int) -> bool:
        """A poll returned ``held`` records (:meth:`Outage.polled`); returns whether Kafka still refuses
        the poll. A refused handshake leaves kafka-python with no connection, and its polls come back
        empty until it reconnects: one that finds no connection keeps the refusal, as the daemon's idle
        check does (:meth:`RefusalWatch.failed`); only a poll seen to work ends it. With no refused poll
        for ``kafka.unavailable_exit_s``, polls that find no connection are an outage again (the
        brokers gone since): exit code 3 after another ``kafka.unavailable_exit_s``."""
        now = self.monotonic()
        refused = self.refusals.state("poll") is not None
        lasting = refused and now - self._poll_refused_at < self.settings.kafka.unavailable_exit_s
        seen = self.outage.polled(consumer, held, refused=lasting)
        if seen:
            self.refusals.ended("poll", self.monotonic())
            return False
        if seen is False:
            self.refusals.failed("poll", "connection" if lasting else "poll", NO_CONNECTION, self.monotonic())
        return self.refusals.state("poll") is not None

    def _produce_settled(self, sent: int, error: BaseException | None) -> None:
        """The poll's dead letters settled: ``sent`` acknowledged, ``error`` the first failure's."""
        now = self.monotonic()
        if error is not None:  # a failure other than a refusal: an outage, the refusal's end
            self.refusals.failed("produce", "produce", error, now, then=_THEN["produce"])
            if refusal_of(error) is None:
                self.outage.produce_failed(error)
        elif sent:
            self.refusals.ended("produce", now)
            self.outage.produce_worked()

    def _commit_settled(self, exc: KafkaError | None) -> None:
        """The poll's offset commit worked (None) or failed with ``exc``."""
        now = self.monotonic()
        if exc is None:
            self.refusals.ended("commit", now)
            self.outage.commit_worked()
            return
        self.refusals.failed("commit", "commit", exc, now, then=_THEN["commit"])
        self.outage.commit_failed(exc, refused=refusal_of(exc) is not None)  # counted; logged once

    @contextmanager
    def _starting(self) -> Iterator[None]:
        """A start Kafka refuses (its group's offsets, its topics) is counted, logged with what to
        check, and raised as :class:`~pipeline.errors.ConfigError` (exit code 2)."""
        try:
            yield
        except KafkaError as exc:
            if (refusal := self.refusals.note("connect", exc)) is None:
                raise
            self.refusals.log("connect", refusal, then=_THEN["connect"])
            self.close()
            watch = self.refusals
            check = (
                "check the credentials in kafka.security"
                if refusal.kind == "authentication"
                else f"it needs {watch.acl(refusal, 'connect')}"
            )
            raise ConfigError(
                f"Kafka refused the retrainer at start: {watch.what(refusal, 'connect')} "
                f"({watch.named(refusal)}; {refusal.error}); {check} (runbook DhagKafkaAccessRefused)"
            ) from None

    def refused_now(self) -> str | None:
        """What Kafka refuses the retrainer now, in ``/ready``'s words, with the topic or group; None."""
        for side in _SIDES:
            if (state := self.refusals.state(side)) is not None:
                return f"{state[0]} ({state[1]})"
        return None

    def refusal_reasons(self) -> list[NotReady]:
        """``/ready``'s reasons: each refusal under way, by the topic's role (the log names it)."""
        reasons: list[NotReady] = []
        for side in _SIDES:
            if (state := self.refusals.state(side)) is None:
                continue
            what, named, since = state
            if all(what != other.state for other in reasons):
                reasons.append(NotReady("kafka", what, f"{named} at {self.bootstrap}", since))
        return reasons
