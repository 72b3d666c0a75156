"""The daemon's Kafka clients across outages and replacements: what each leaves behind is closed."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import pytest
from kafka.errors import KafkaError
from pipeline_kafka import make_settings, wait_for
from prometheus_client import CollectorRegistry

from pipeline.batchoutput import Outgoing
from pipeline.broker import EmbeddedBroker
from pipeline.brokerlink import BrokerHealth, delivery_timeout_ms, new_consumer, new_producer
from pipeline.config import KafkaSettings
from pipeline.daemon import Daemon
from pipeline.delivery import Delivery, DeliveryError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

pytestmark = pytest.mark.integration


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _pause(pid: int) -> None:
    """SIGSTOP the process and wait until every thread of it has stopped: the signal only asks, and a
    thread already running on another core (a loaded machine: CI) can still answer a request meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/stat", encoding="ascii") as stat:
                states.append(stat.read().rsplit(")", 1)[1].split()[0])
        if all(state in "tT" for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop within 10 s")


def _started_since(earlier: set[threading.Thread], *prefixes: str) -> list[str]:
    """The names of the threads alive now, not in ``earlier``, whose names begin with one of
    ``prefixes``: counted against the test's own start, since an earlier test of this worker process
    may still be closing a given-up producer (up to its delivery timeout) while this one counts."""
    return [t.name for t in threading.enumerate() if t not in earlier and t.name.startswith(prefixes)]


def _kafka_threads(earlier: set[threading.Thread]) -> list[str]:
    """The threads of kafka-python's clients (network and IO threads) started since ``earlier``."""
    return _started_since(earlier, "dhag-pipeline", "kafka-io")


def test_every_outage_leaves_no_producer_thread_or_socket_behind() -> None:
    # A broker that stops answering (SIGSTOP) makes flush time out; the producer is replaced. Its
    # network thread, sockets and connection must go with it: months of outages and restarts would
    # otherwise pile them up in the daemon.
    earlier = set(threading.enumerate())
    broker = EmbeddedBroker().start()
    try:
        kafka = KafkaSettings(request_timeout_ms=2000, unavailable_exit_s=3600)
        health = BrokerHealth(
            kafka, PipelineMetrics(CollectorRegistry()), threading.Event(), broker.bootstrap_servers
        )
        delivery = Delivery(kafka, broker.bootstrap_servers, health)
        message = [Outgoing("delivery-leak", b"k", b"v")]
        deadline = time.monotonic() + 30
        while True:  # the topic is auto-created on first use
            try:
                delivery.deliver(message)
                break
            except DeliveryError:
                delivery.replace()
                assert time.monotonic() < deadline, "the broker never accepted a record"
                time.sleep(0.5)
        network = _started_since(earlier, "dhag-pipeline-network-thread")
        fds = _open_fds()
        assert len(network) == 1, network
        for _ in range(2):
            _pause(broker.pid)
            try:
                with pytest.raises(DeliveryError):
                    delivery.deliver(message)
                delivery.replace()
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            delivery.deliver(message)  # a fresh producer, once the broker answers again

        # A producer given up is closed once its records expired (or were acknowledged after all):
        # within a record's delivery timeout, on a thread of its own.
        def left_behind() -> tuple[int, int, bool]:
            """Network threads and closes of given-up producers under way started since the test
            began, and whether files are open beyond the first count (one an earlier test left open
            may have closed since)."""
            return (
                len(_started_since(earlier, "dhag-pipeline-network-thread")),
                len(_started_since(earlier, "dhag-producer-close")),
                _open_fds() > fds,
            )

        deadline = time.monotonic() + delivery_timeout_ms(kafka) / 1000 + 5
        while left_behind() != (1, 0, False) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left_behind() == (1, 0, False)
    finally:
        delivery.close()
        broker.stop()


def test_a_consumer_that_cannot_reach_the_broker_leaves_no_thread_or_socket_behind() -> None:
    # kafka-python starts the consumer's network thread before its first broker contact and raises
    # from the constructor when that fails; each retry of an outage would leave one behind.
    broker = EmbeddedBroker().start()
    try:
        kafka = KafkaSettings(request_timeout_ms=2000)
        earlier, fds = set(threading.enumerate()), _open_fds()
        _pause(broker.pid)
        try:
            for _ in range(2):
                with pytest.raises(KafkaError):
                    new_consumer(kafka, broker.bootstrap_servers)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        assert _started_since(earlier, "") == []  # no thread of any name left running
        assert _open_fds() <= fds  # one an earlier test left open may have closed since
    finally:
        broker.stop()


def test_a_producer_that_cannot_reach_the_broker_leaves_no_socket_behind() -> None:
    # kafka-python opens the producer's sockets before its first broker contact and raises from the
    # constructor when that fails. The garbage collector closed them at some point, but a long-running
    # daemon's full collections are rare: every attempt of an outage kept its sockets (and a
    # connection to the broker) open meanwhile.
    broker = EmbeddedBroker().start()
    try:
        kafka = KafkaSettings(request_timeout_ms=2000, unavailable_exit_s=2)
        fds = _open_fds()
        _pause(broker.pid)
        gc.disable()  # closed when the attempt fails, not whenever a collection comes
        try:
            for _ in range(2):
                with pytest.raises(KafkaError):
                    new_producer(kafka, broker.bootstrap_servers)
            assert _open_fds() == fds
        finally:
            gc.enable()
            os.kill(broker.pid, signal.SIGCONT)
    finally:
        broker.stop()


def test_every_consumer_replacement_leaves_no_thread_or_socket_behind(tansu, fitted, tmp_path) -> None:
    # A stalled fetch or a group join that does not end gets the daemon a new consumer: over months,
    # many. Each replaced consumer's network thread, sockets and connections go with it.
    earlier = set(threading.enumerate())
    settings = make_settings(tansu.bootstrap_servers, tmp_path)
    metrics = PipelineMetrics(CollectorRegistry())
    processor = BatchProcessor(settings, fitted, "v1", metrics)
    daemon = Daemon(settings, processor, metrics, bootstrap_servers=tansu.bootstrap_servers)

    def assigned() -> bool:
        assert daemon.consumer is not None
        daemon.consumer.poll(timeout_ms=100)
        daemon._apply_rebalances()
        return bool(daemon.consumer.assignment())

    try:
        assert daemon._connect()
        daemon._subscribe()
        wait_for(assigned, 30, "the first assignment")
        gc.collect()  # an earlier test's unreachable sockets close now, not during the count
        threads, fds = _kafka_threads(earlier), _open_fds()
        assert len(threads) == 2, threads  # the consumer's IO thread, the producer's network thread
        for _ in range(3):
            daemon._restart_consumer()
            wait_for(assigned, 30, "the new consumer's assignment")
            # A socket open at the first count may have closed since (a loaded machine: CI saw 27 -> 25);
            # a leaked one never does.
            wait_for(
                lambda: len(_kafka_threads(earlier)) == 2 and _open_fds() <= fds,
                10,
                f"the replaced consumer's thread and sockets to go ({threads}, {fds} files before)",
            )
    finally:
        daemon._close()


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.exception = error

    def failed(self) -> bool:
        return self.exception is not None


class _Producer:
    """Takes every send; the ones numbered in ``refuse`` (0 = the first) fail once flushed."""

    def __init__(self, refuse: set[int]) -> None:
        self.refuse, self.sent = refuse, 0

    def send(self, topic: str, key: bytes | None, value: bytes, headers: list | None) -> _Future:
        n, self.sent = self.sent, self.sent + 1
        return _Future(KafkaError("NotEnoughReplicas") if n in self.refuse else None)

    def flush(self, timeout: float) -> None:
        pass


@pytest.mark.parametrize(("refuse", "delivered"), [(set(), True), ({1}, False)])
def test_a_message_the_broker_refused_after_the_flush_fails_the_delivery(
    refuse: set[int], delivered: bool
) -> None:
    # kafka-python's flush does not raise for a refused send: only the future says so. A batch whose
    # alert was refused must not have its offsets committed.
    kafka = KafkaSettings()
    health = BrokerHealth(kafka, PipelineMetrics(CollectorRegistry()), threading.Event(), "x:1")
    delivery = Delivery(kafka, "x:1", health)
    delivery.producer = _Producer(refuse)  # type: ignore[assignment]
    messages = [Outgoing("sensor-readings.dlq", b"k", b"a"), Outgoing("anomaly-alerts", b"k", b"b")]
    if delivered:
        delivery.deliver(messages)
    else:  # the error names the topic the broker refused (an ACL, a deleted topic, too few replicas)
        match = "1 of 2 messages to anomaly-alerts not acknowledged: .*NotEnoughReplicas"
        with pytest.raises(DeliveryError, match=match):
            delivery.deliver(messages)


def test_a_broker_that_could_not_bind_its_port_is_not_taken_for_started(tansu) -> None:
    # Its readiness check connected to whatever listened on the port: with the port taken (a free port
    # grabbed in between, a fixed one still in use), start() returned while the new broker had exited,
    # and its user talked to another process's broker (killing or pausing "its" broker did nothing).
    from pipeline.errors import BrokerUnavailableError

    with pytest.raises(BrokerUnavailableError, match="did not start"):
        EmbeddedBroker(port=tansu.port, startup_timeout_s=3).start()
    broker = EmbeddedBroker().start()
    try:
        assert broker.port != tansu.port
    finally:
        broker.stop()


class _StuckProducer:
    """The public face of a kafka-python producer whose records the broker never acknowledged: close
    flushes first and raises until they expire (``delivery_timeout_ms`` after they were sent)."""

    def __init__(self, expires_in_s: float) -> None:
        self.expires_at = time.monotonic() + expires_in_s
        self.closed = threading.Event()
        self.close_timeouts: list[float] = []

    def close(self, timeout: float | None = None) -> None:
        from kafka.errors import KafkaTimeoutError

        self.close_timeouts.append(timeout)
        wait_s = max(0.0, self.expires_at - time.monotonic())
        if timeout is not None and timeout < wait_s:
            time.sleep(timeout)
            raise KafkaTimeoutError("Timeout waiting for future")
        time.sleep(wait_s)  # every record expired: the flush is done, the network thread stops
        self.closed.set()


@pytest.mark.parametrize("shutdown", [False, True])
def test_a_producer_left_with_unsent_records_is_closed_once_they_expire(shutdown: bool) -> None:
    # close() flushes first and raises while records are unsent: its network thread, sockets and
    # connection stayed open. Stopping that thread took kafka-python's private Sender, which a producer
    # need not have: this one (public methods only) was never closed at all.
    kafka = KafkaSettings(request_timeout_ms=1000)
    health = BrokerHealth(kafka, PipelineMetrics(CollectorRegistry()), threading.Event(), "x:1")
    delivery = Delivery(kafka, "x:1", health)
    # Records expire in 2 s, within the producer's delivery timeout (request timeout, linger and 1 s).
    producer = delivery.producer = _StuckProducer(expires_in_s=2.0)  # type: ignore[assignment]
    started = time.monotonic()
    if shutdown:
        delivery.close(timeout_s=0.1)
    else:
        delivery.replace()
    # The daemon does not wait for the records to expire (a bound with room for a loaded machine).
    assert time.monotonic() - started < 1.0
    assert delivery.producer is None
    assert producer.closed.wait(timeout=kafka.request_timeout_ms / 1000 + 5)
    # bounded: the last close may wait as long as a record can live in the producer
    assert max(producer.close_timeouts) <= (kafka.request_timeout_ms + 5 + 1000) / 1000 + 1
