"""A stop while the broker does not answer: the daemon closes in order within its shutdown grace, and
commits nothing whose output the broker did not acknowledge."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import types

import numpy as np
import orjson
import pytest
from kafka.errors import KafkaTimeoutError
from pipeline_kafka import committed, make_settings, produce, read_topic, reading, wait_for
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_delivery import _pause

from pipeline.batchoutput import Outgoing
from pipeline.broker import EmbeddedBroker
from pipeline.brokerlink import BrokerHealth
from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.delivery import Delivery, DeliveryError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

GRACE_S = 12.0


class _SilentProducer:
    """A producer whose broker never acknowledges: every flush waits its whole timeout, then raises."""

    def __init__(self) -> None:
        self.flushes: list[float] = []

    def send(self, topic: str, key: bytes | None, value: bytes, headers: object) -> object:
        return object()

    def flush(self, timeout: float) -> None:
        self.flushes.append(timeout)
        time.sleep(timeout)
        raise KafkaTimeoutError(f"flush did not complete within {timeout} s")


@pytest.mark.parametrize("give_up_in", [0.3, math.inf])
def test_a_flush_gives_up_at_its_deadline_or_after_the_request_timeout(give_up_in: float) -> None:
    kafka = KafkaSettings(request_timeout_ms=1500)
    health = BrokerHealth(kafka, PipelineMetrics(CollectorRegistry()), threading.Event(), "x:1")
    started = time.monotonic()
    delivery = Delivery(kafka, "x:1", health, give_up_at=lambda: started + give_up_in)
    delivery.producer = producer = _SilentProducer()  # type: ignore[assignment]
    with pytest.raises(DeliveryError, match="flush did not complete"):
        delivery.deliver([Outgoing("anomaly-alerts", b"k", b"v")])
    took = time.monotonic() - started
    assert (0.3 <= took < 1.3) if give_up_in < 1 else (1.5 <= took < 3.0)  # room for a loaded machine
    assert max(producer.flushes) <= 0.5  # in slices, each looking at the deadline again


def test_a_stopping_daemon_cuts_its_waits_to_shares_of_the_grace(fitted) -> None:
    settings = Settings.model_validate({"shutdown_grace_s": 20, "kafka": {"request_timeout_ms": 30000}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    assert daemon._wait_ms(0.75) == 30000 and daemon.delivery.give_up_at() == math.inf
    daemon.request_stop()
    assert 14000 < daemon._wait_ms(0.75) <= 15000 and 17000 < daemon._wait_ms(0.9) <= 18000
    assert daemon.delivery.give_up_at() - time.monotonic() == pytest.approx(10, abs=1)
    daemon.request_stop()  # a second request keeps the first deadline
    assert daemon._wait_ms(0.75) <= 15000


@pytest.mark.integration
def test_a_stop_while_the_broker_is_frozen_ends_within_the_grace_committing_only_what_was_delivered(
    fitted, model_registry
) -> None:
    # Before, the batch's flush, the final commit and the consumer's close each waited the whole
    # request timeout for a broker that did not answer (here 8 s each, over 16 s in all), so the
    # grace ran out and every such stop was a forced exit 1, without leaving the group.
    # A commit already waiting at the stop still takes its request timeout: the grace holds that too.
    broker = EmbeddedBroker().start()
    try:
        bs = broker.bootstrap_servers
        settings = make_settings(
            bs, model_registry, scores=True, kafka={"request_timeout_ms": 8000}, shutdown_grace_s=GRACE_S
        )
        topics = settings.kafka.topics
        metrics = PipelineMetrics(CollectorRegistry())
        daemon = Daemon(
            settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers=bs
        )
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
        thread.start()
        rows = normal(np.random.default_rng(3), 1200)
        records = [
            (f"a-{i % 7}".encode(), reading(f"a-{i % 7}", 1.79e9 + i, row)) for i, row in enumerate(rows)
        ]
        sent = produce(bs, topics.input, records[:300])
        wait_for(
            lambda: sum(committed(bs, settings.kafka.group_id, topics.input).values()) > 0, 60, "a commit"
        )
        sent += produce(bs, topics.input, records[300:])
        _pause(broker.pid)  # while the daemon works through the second lot
        try:
            stopped_at = time.monotonic()
            daemon.request_stop()
            thread.join(GRACE_S + 2)
            took = time.monotonic() - stopped_at
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        assert not thread.is_alive() and result == [0], f"still running after {took:.1f} s"
        assert took <= GRACE_S, f"the stop took {took:.1f} s of a {GRACE_S} s grace"
        done = committed(bs, settings.kafka.group_id, topics.input)
        scored = {
            (e["partition"], e["offset"])
            for e in map(
                orjson.loads, (m.value for m in read_topic(bs, topics.scores, count=len(sent), timeout_s=10))
            )
        }
        assert [(p, o) for p, o in sent if o < done.get(p, 0) and (p, o) not in scored] == []
    finally:
        broker.stop()


class _QuickAck(_SilentProducer):
    """A healthy broker: the acknowledgements come 0.1 s after a flush begins."""

    def send(self, topic: str, key: bytes | None, value: bytes, headers: object) -> object:
        return types.SimpleNamespace(failed=lambda: False)

    def flush(self, timeout: float) -> None:
        self.flushes.append(timeout)
        if timeout < 0.1:
            time.sleep(timeout)
            raise KafkaTimeoutError(f"flush did not complete within {timeout} s")
        time.sleep(0.1)


def test_a_late_stop_still_gives_a_healthy_broker_the_time_to_answer(fitted) -> None:
    # A stop that came after half the grace left a flush 0 s and the final commit 1 ms: a healthy
    # broker's answer was given up, the batch processed again and its alert events sent twice.
    kafka = KafkaSettings(request_timeout_ms=30000)
    health = BrokerHealth(kafka, PipelineMetrics(CollectorRegistry()), threading.Event(), "x:1")
    delivery = Delivery(kafka, "x:1", health, give_up_at=lambda: time.monotonic() - 5)
    delivery.producer = _QuickAck()  # type: ignore[assignment]
    delivery.deliver([Outgoing("anomaly-alerts", b"k", b"v")])
    settings = Settings.model_validate({"shutdown_grace_s": 20})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.request_stop()
    daemon._stop_by = time.monotonic() - 1  # the grace is over: still half a second for a call
    assert daemon._wait_ms(0.75) == 500


class _FrozenCommits:
    """A consumer whose broker never answers a commit: each waits its whole timeout, then raises."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        self.calls.append(timeout_ms or 0)
        time.sleep((timeout_ms or 0) / 1000)
        raise KafkaTimeoutError("commit timed out")


def test_the_final_commit_of_a_stopping_daemon_waits_its_share_of_the_grace(fitted) -> None:
    # One request, cut to three quarters of the grace, not the request timeout: and one request
    # only (kafka-python does not cancel a timed-out commit, so retries in slices sent a new one
    # each time and never saw a slow broker's answer).
    from kafka import TopicPartition

    settings = Settings.model_validate({"shutdown_grace_s": 2, "kafka": {"request_timeout_ms": 20000}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.consumer = consumer = _FrozenCommits()  # type: ignore[assignment]
    daemon._pending = {TopicPartition("in", 0): 10}
    daemon.request_stop()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        daemon._commit_pending()
    assert time.monotonic() - started < 2.0  # not the 20 s request timeout
    assert len(consumer.calls) == 1 and 1000 <= consumer.calls[0] <= 1500
    assert daemon._pending  # nothing settled: the records are processed again after the restart


class _ClosingConsumer(_FrozenCommits):
    def close(self, autocommit: bool = True, timeout_ms: int | None = None) -> None:
        pass


@pytest.mark.parametrize("connects", [True, False])
def test_a_stopped_daemon_ends_its_log_saying_what_it_left(
    fitted, monkeypatch, caplog, connects: bool
) -> None:
    # After "SIGTERM received" the log ended with "partitions revoked", or with nothing at all: a
    # clean stop, a final commit that failed and a process killed mid-batch all read the same.
    from kafka import TopicPartition

    settings = Settings.model_validate({"shutdown_grace_s": 2, "kafka": {"request_timeout_ms": 1000}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )

    def connect() -> bool:
        daemon.consumer = _ClosingConsumer()  # type: ignore[assignment]
        return True

    def loop() -> None:  # a batch processed, its commit not answered before the stop
        daemon._pending = {TopicPartition("in", 0): 10}
        daemon.request_stop()

    if connects:
        monkeypatch.setattr(daemon, "_connect", connect)
    else:
        daemon.request_stop()  # before it connected
    monkeypatch.setattr(daemon, "_subscribe", lambda: None)
    monkeypatch.setattr(daemon, "_loop", loop)
    with caplog.at_level("INFO", logger="pipeline.daemon"):
        assert daemon.run() == 0
    said = [r.getMessage() for r in caplog.records if r.name == "pipeline.daemon"]
    if connects:
        assert said[-1] == (
            "stopped: 0 records processed since start; the final commit failed: the records since the "
            "last commit are processed again after a restart"
        )
    else:
        assert said[-1] == "stopped before connecting to Kafka: nothing processed"


class _RefusingCommits(_ClosingConsumer):
    """A consumer whose group rebalanced under it: each commit is refused."""

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        from kafka.errors import CommitFailedError

        raise CommitFailedError("the group rebalanced")


def test_the_closing_line_claims_no_commit_that_was_refused(fitted, monkeypatch, caplog) -> None:
    # It said "N records processed since start, their offsets committed" whenever nothing was pending
    # at the stop, also when a commit refused after a rebalance left those records to be processed again.
    from kafka import TopicPartition

    settings = Settings.model_validate({"shutdown_grace_s": 2, "kafka": {"request_timeout_ms": 1000}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )

    def connect() -> bool:
        daemon.consumer = _RefusingCommits()  # type: ignore[assignment]
        return True

    def loop() -> None:  # a batch of 10 processed, its commit refused, then the stop
        daemon._pending = {TopicPartition("in", 0): 10}
        daemon.records_done = 10
        daemon._commit_pending()
        assert not daemon._pending
        daemon.request_stop()

    monkeypatch.setattr(daemon, "_connect", connect)
    monkeypatch.setattr(daemon, "_subscribe", lambda: None)
    monkeypatch.setattr(daemon, "_loop", loop)
    with caplog.at_level("INFO", logger="pipeline.daemon"):
        assert daemon.run() == 0
    said = [r.getMessage() for r in caplog.records if r.name == "pipeline.daemon"]
    assert said[-1] == (
        "stopped: 10 records processed since start; the final commit done (1 commits refused after a "
        "rebalance: their records are processed again by the partitions' new owners)"
    ), said


def test_the_ready_probe_survives_the_outage_ending_while_it_answers(fitted) -> None:
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.consumer, daemon._joined = object(), True  # type: ignore[assignment]

    class _Ending:
        """An outage that the loop ends between two reads of it."""

        reads = iter([time.monotonic() - 3, None])

        @property
        def failing_since(self) -> float | None:
            return next(self.reads, None)

        def down_since(self, side: str) -> float | None:
            return next(self.reads, None) if side == "consume" else None  # no group join failing

        class refusals:  # noqa: N801 - as BrokerHealth's attribute: nothing refused, an outage
            @staticmethod
            def state(side: str) -> None:
                return None

    daemon.health = _Ending()  # type: ignore[assignment]
    assert [reason.text() for reason in daemon.not_ready() or []] == ["kafka: failing for 3 s"]
