"""The daemon's link to Kafka: its clients, built from the ``kafka`` settings, and what it does when an
operation on them fails.

:class:`BrokerHealth` counts every failure (``dhag_broker_failures_total{operation}``), sets
``dhag_broker_connected`` (0 while the consumer or the producer fails; a group join that does not end is
no failure to reach the brokers, which answer it), logs each operation's failures at most once per
``kafka.backoff_max_s``, waits an exponential backoff before the caller retries, and raises
:class:`~pipeline.errors.BrokerUnavailableError` once Kafka has been unusable for
``kafka.unavailable_exit_s``. While the daemon idles it also notices a lost broker, which kafka-python
itself only retries, silently. The consumer's and the producer's outages are timed apart: polls that
work do not end an outage of produce; a delivery does, or the daemon owing nothing more to send
(:meth:`BrokerHealth.settled`). A group join that did not end in time (:mod:`pipeline.stalls`) is an
outage of its own: brokers that answer do not end it, only the group's assignment does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, SaslAuthenticationFailedError

from pipeline.backoff import Backoff, ThrottledLog
from pipeline.config import KafkaSettings
from pipeline.errors import BrokerUnavailableError, ConfigError
from pipeline.heldclock import HeldClock
from pipeline.kafkaclients import closed_on_failure
from pipeline.metrics import PipelineMetrics
from pipeline.refusals import CREDENTIAL_SETTINGS, RefusalWatch
from pipeline.settingnotes import session_refused

__all__ = [
    "AUTHENTICATION_FAILURES",
    "BrokerHealth",
    "authentication_refused",
    "client_options",
    "delivery_timeout_ms",
    "known_position",
    "new_consumer",
    "new_producer",
    "producer_options",
    "reached",
    "record_expiry_ms",
    "record_lag",
    "rewind",
]

log = logging.getLogger("pipeline.daemon")  # its lines read as the daemon's, as they always have

CONNECTION_CHECK_S = 1.0


def client_options(kafka: KafkaSettings, bootstrap_servers: str) -> dict[str, Any]:
    """The options every client shares: servers, client id, request timeout, metadata refresh,
    reconnect backoff and security (kafka-python's own request timeout, 30 s, would hold each wait of
    the consumers' as long whatever ``kafka.request_timeout_ms`` says; its metadata refresh, every 5
    minutes, would leave partitions added to the input topic unassigned, their lag unseen, as long)."""
    return {
        "bootstrap_servers": bootstrap_servers.split(","),
        "client_id": kafka.client_id,
        "request_timeout_ms": kafka.request_timeout_ms,
        "metadata_max_age_ms": kafka.metadata_max_age_ms,
        "bootstrap_timeout_ms": int(min(5.0, kafka.unavailable_exit_s) * 1000),
        "reconnect_backoff_ms": int(kafka.backoff_initial_s * 1000),
        "reconnect_backoff_max_ms": int(kafka.backoff_max_s * 1000),
        **kafka.security.client_options(),
    }


# The broker answered and refused the client's credentials: no retry would change that. (kafka-python
# raises it from a client's constructor, or from its first request, once the handshake has failed.)
AUTHENTICATION_FAILURES: tuple[type[KafkaError], ...] = (SaslAuthenticationFailedError,)


def authentication_refused(exc: BaseException, bootstrap_servers: str) -> ConfigError:
    """The :class:`ConfigError` for a failed authentication (one of :data:`AUTHENTICATION_FAILURES`):
    it names the security settings to check, never their values."""
    return ConfigError(
        f"config error: Kafka at {bootstrap_servers} refused the client's authentication: {exc}; check "
        f"{CREDENTIAL_SETTINGS}"
    )


def new_consumer(kafka: KafkaSettings, bootstrap_servers: str, *, member: bool = True) -> KafkaConsumer:
    """A group member of ``kafka.group_id`` that commits only when told to (``member=False``: a reader
    in no group, for partitions it assigns itself). One that cannot reach the broker leaves nothing
    open (:func:`closed_on_failure`)."""
    options = (
        _consumer_options(kafka, bootstrap_servers)
        if member
        else dict(group_id=None, enable_auto_commit=False, **client_options(kafka, bootstrap_servers))
    )
    return closed_on_failure(KafkaConsumer, **options)


def _consumer_options(kafka: KafkaSettings, bootstrap_servers: str) -> dict[str, Any]:
    return dict(
        group_id=kafka.group_id,
        enable_auto_commit=False,
        auto_offset_reset=kafka.auto_offset_reset,
        max_poll_records=kafka.batch_size,
        max_poll_interval_ms=kafka.max_poll_interval_ms,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        fetch_max_bytes=kafka.fetch_max_bytes,
        max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
        **client_options(kafka, bootstrap_servers),
    )


PRODUCER_LINGER_MS = 5


def delivery_timeout_ms(kafka: KafkaSettings) -> int:
    """How long a record may stay in the daemon's producer: as long as a flush waits for it (the
    request timeout), its linger and a second. The daemon gives up on a record after that anyway (it is
    processed again from the uncommitted input); past it, the producer fails the record itself, so a
    producer left with unsent records can be closed within that time (:mod:`pipeline.delivery`)."""
    return record_expiry_ms(kafka.request_timeout_ms, PRODUCER_LINGER_MS)


def record_expiry_ms(request_timeout_ms: int, linger_ms: int) -> int:
    """A producer's ``delivery_timeout_ms`` for its ``request_timeout_ms`` and ``linger_ms``: a request's
    timeout, the linger and a second, the least kafka-python takes."""
    return request_timeout_ms + linger_ms + 1000


def producer_options(kafka: KafkaSettings, bootstrap_servers: str) -> dict[str, Any]:
    """The daemon's producer's options (:func:`new_producer`), the retrainer's too: its sends are
    acknowledged by every in-sync replica (``acks=all``), a send waits for a topic's metadata or buffer
    space at most 10 s (``kafka.unavailable_exit_s`` if less), and its records fail after
    :func:`delivery_timeout_ms` (kafka-python's own: 60 s and 120 s)."""
    return {
        "acks": "all",
        "linger_ms": PRODUCER_LINGER_MS,
        "batch_size": 262_144,
        "max_block_ms": int(min(10.0, kafka.unavailable_exit_s) * 1000),
        "delivery_timeout_ms": delivery_timeout_ms(kafka),
        **client_options(kafka, bootstrap_servers),
    }


def new_producer(kafka: KafkaSettings, bootstrap_servers: str) -> KafkaProducer:
    """A producer with :func:`producer_options`. One that cannot reach the broker leaves nothing open
    (:func:`closed_on_failure`)."""
    return closed_on_failure(KafkaProducer, **producer_options(kafka, bootstrap_servers))


def rewind(consumer: KafkaConsumer, records: list[Any]) -> None:
    """Seek back to each assigned partition's first record among ``records``, to process them again."""
    first: dict[TopicPartition, int] = {}
    for rec in records:
        tp = TopicPartition(rec.topic, rec.partition)
        first[tp] = min(rec.offset, first.get(tp, rec.offset))
    assignment = consumer.assignment()
    for tp, offset in first.items():
        if tp in assignment:
            consumer.seek(tp, offset)


def known_position(consumer: KafkaConsumer, tp: TopicPartition) -> int | None:
    """The consumer's position on ``tp`` (the next offset it fetches) as it knows it, without a request;
    None when it knows none, or no longer holds ``tp``.

    kafka-python's ``position()`` first fetches the committed offsets of every assigned partition
    without a position from the group coordinator, and awaits resets and validations, so the
    subscription state it keeps is read instead; a consumer without one (another layout) is asked with
    no time to wait.
    """
    read = getattr(getattr(consumer, "_subscription", None), "position", None)
    if read is None:
        try:
            return consumer.position(tp, timeout_ms=0)
        except KafkaError:  # (no longer assigned)
            return None
    try:
        at = read(tp)
    except KeyError:  # no longer assigned
        return None
    offset = getattr(at, "offset", None)
    return offset if isinstance(offset, int) else None


def reached(consumer: KafkaConsumer, offsets: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """Per partition of a batch, where the daemon stands once the batch is processed: its position when
    known, at least ``offsets`` (per partition, the last record's offset + 1).

    The position passes the offsets that are never handed out as records: the commit marker of each
    transaction on a transactional topic, and aborted records under ``read_committed``. kafka-python
    moves it past them once every record before them is polled, and the daemon processes each poll
    whole, so nothing before the position waits. Measured from the last record + 1, a partition read
    to its end behind a commit marker would keep a lag of 1."""
    found = {}
    for (topic, partition), next_offset in offsets.items():
        at = known_position(consumer, TopicPartition(topic, partition))
        found[(topic, partition)] = next_offset if at is None else max(at, next_offset)
    return found


def record_lag(
    consumer: KafkaConsumer, metrics: PipelineMetrics, offsets: dict[tuple[str, int], int]
) -> None:
    """Set ``dhag_consumer_lag`` of each partition in ``offsets`` (its last processed offset + 1) from the
    consumer's last known high watermark and where the batch left the daemon (:func:`reached`); a
    partition whose watermark is unknown is left as it was."""
    for (topic, partition), next_offset in reached(consumer, offsets).items():
        tp = TopicPartition(topic, partition)
        try:
            highwater = consumer.highwater(tp)
        except KafkaError:
            continue
        if highwater is not None:
            metrics.consumer_lag.labels(topic, str(partition)).set(max(0, highwater - next_offset))


SIDES = ("consume", "produce")  # the daemon's two clients
JOIN = "join"  # the consumer's group join: an outage of its own, which only an assignment ends


def side_of(operation: str) -> str:
    """Which outage an operation's failure belongs to: ``produce`` (the producer's deliveries),
    ``join`` (a group join that did not end in time) or ``consume`` (connecting, polls, commits, the
    connection check and the rest)."""
    return operation if operation in ("produce", JOIN) else "consume"


class BrokerHealth:
    """Failures and recoveries of the Kafka operations of one daemon (see the module docstring).

    An outage is timed per client, and only that client's success ends it: a broker that takes no
    produce while polls and commits work is still unusable to the daemon, whose batches are rewound
    and retried until then. While the producer's outage lasts, the idle connection check keeps its
    timer running, so it ends the run after ``kafka.unavailable_exit_s`` even when polls come back
    empty and nothing is sent.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        metrics: PipelineMetrics,
        stop: threading.Event,
        bootstrap_servers: str,
        clock: HeldClock | None = None,
    ) -> None:
        self.kafka = kafka
        self.clock = clock if clock is not None else HeldClock()  # held while Kafka is unusable
        self.metrics = metrics
        self.stop = stop
        self.bootstrap_servers = bootstrap_servers
        self._backoff = Backoff(kafka.backoff_initial_s, kafka.backoff_max_s)
        self._throttled = ThrottledLog(log, kafka.backoff_max_s)
        self._since: dict[str, float] = {}  # per side of :data:`SIDES` failing: since when
        self._last_error: dict[str, BaseException] = {}
        self._last_check = 0.0
        self.refusals = RefusalWatch(kafka, metrics.broker_refusals)  # what Kafka refuses each side

    def failure(self, operation: str, exc: BaseException) -> None:
        """Count a failure, log it at most once per interval, wait a backoff (cut short by a stop, and
        never past ``kafka.unavailable_exit_s`` into the outage), or raise
        :class:`BrokerUnavailableError` when Kafka has been unusable for too long."""
        now = time.monotonic()
        self.metrics.broker_failures.labels(operation).inc()
        side = side_of(operation)
        if side in SIDES:  # a join that did not end: the brokers answer (DhagConsumerReplaced says it)
            self.metrics.broker_connected.set(0)
        if not self._since:
            self.clock.hold("broker")
        self._since.setdefault(side, now)
        self._last_error[side] = exc
        self.refusals.failed(side, operation, exc, now)
        down_for = now - self._since[side]
        hint = session_refused(exc, self.kafka.session_timeout_ms)  # a join refused, not an outage
        self._throttled.log(
            operation,
            logging.WARNING,
            "Kafka %s failed (for %.1fs now): %s%s",
            operation,
            down_for,
            exc,
            hint,
        )
        self._give_up_when_over(now)
        # No wait past the moment the longest outage under way ends the run (the next failure then).
        left = self.kafka.unavailable_exit_s - (now - min(self._since.values()))
        self.stop.wait(max(0.0, min(self._backoff.next_delay(), left)))

    def _give_up_when_over(self, now: float) -> None:
        """Raise :class:`BrokerUnavailableError` when a side has failed for ``kafka.unavailable_exit_s``."""
        for side, since in self._since.items():
            down_for = now - since
            if down_for >= self.kafka.unavailable_exit_s:
                raise BrokerUnavailableError(
                    f"Kafka at {self.bootstrap_servers} unusable to {side} for {down_for:.0f}s "
                    f"(kafka.unavailable_exit_s = {self.kafka.unavailable_exit_s}); "
                    f"last error: {self._last_error.get(side)}"
                    + session_refused(self._last_error.get(side), self.kafka.session_timeout_ms)
                )

    @property
    def failing_since(self) -> float | None:
        """When (time.monotonic()) the failures of the outage under way began; None when there is none."""
        return min(self._since.values(), default=None)

    def success(self, side: str | None = None) -> None:
        """An operation of ``side`` (one of :data:`SIDES` or :data:`JOIN`; None: both clients, as after
        connecting) worked: its outage (if any) is over, and Kafka's once no side fails."""
        self._end(SIDES if side is None else (side,), "Kafka reachable again after %.1fs")

    def failing(self, side: str) -> bool:
        """Whether an outage of ``side`` is under way."""
        return side in self._since

    def down_since(self, side: str) -> float | None:
        """When (time.monotonic()) the outage of ``side`` under way began; None when there is none."""
        return self._since.get(side)

    def settled(self, side: str) -> None:
        """Nothing of ``side``'s is left to retry (the output a refused delivery owed is no longer due,
        or no longer this daemon's): its outage, proven over by nothing, is no longer timed."""
        if side in self._since:
            self._end((side,), f"Kafka {side}: nothing left to retry after %.1fs, the outage no longer timed")

    def _end(self, sides: tuple[str, ...], message: str) -> None:
        began = self.failing_since
        for done in sides:
            self._since.pop(done, None)
            self._last_error.pop(done, None)
            self.refusals.ended(done, time.monotonic())
        if not any(side in self._since for side in SIDES):  # (a join failing: the brokers answer)
            self.metrics.broker_connected.set(1)
        if self._since:
            return
        if began is not None:
            log.info(message, time.monotonic() - began)
        self.clock.release("broker")
        self._backoff.reset()

    def check(self, consumer: KafkaConsumer | None) -> None:
        """While idle (at most once a second): a failure when ``consumer`` is connected to no broker;
        else the consumer's outage is over, and an outage of produce or of the group join still under
        way is timed on."""
        now = time.monotonic()
        if now - self._last_check < CONNECTION_CHECK_S:
            return
        self._last_check = now
        if connected(consumer):
            self.success("consume")
            self._give_up_when_over(now)
        else:
            self.failure("connection", ConnectionError("no connection to any broker"))


def connected(consumer: KafkaConsumer | None) -> bool:
    """Whether ``consumer`` holds a connection to any known broker.

    kafka-python has no public call for it; this reads its client state and answers True if that
    internal layout ever changes (the failures of real operations still count then).
    """
    client = getattr(consumer, "_client", None)
    try:
        brokers = list(client.cluster.brokers())  # type: ignore[union-attr]
        return not brokers or any(client.connected(b.node_id) for b in brokers)  # type: ignore[union-attr]
    except AttributeError:
        return True
