"""A broker that takes no produce while polls go on without an error is an outage too: the daemon exits
after ``kafka.unavailable_exit_s`` for its supervisor to restart it, instead of hanging on silently."""

from __future__ import annotations

import types

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline.batchoutput import Outgoing
from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.delivery import DeliveryError
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

TP = TopicPartition("sensor-readings", 0)


class _Consumer:
    """Connected and caught up on one partition; every poll takes ``step_s`` and returns ``batches``
    in turn (an empty dict: an empty poll)."""

    def __init__(self, clock: list[float], batches: list[dict], step_s: float = 3.0) -> None:
        self.clock, self.batches, self.step_s, self.polls = clock, batches, step_s, 0

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.clock[0] += self.step_s
        self.polls += 1
        return self.batches[self.polls % len(self.batches)]

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def paused(self) -> set[TopicPartition]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: 100 for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return 100

    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass

    def highwater(self, tp: TopicPartition) -> int:
        return 100

    def commit(self, offsets: dict, timeout_ms: int) -> None:
        pass


def _daemon(fitted, monkeypatch, clock: list[float], **kafka: float) -> tuple[Daemon, PipelineMetrics]:
    for module in ("pipeline.daemon", "pipeline.brokerlink", "pipeline.backoff"):
        monkeypatch.setattr(f"{module}.time.monotonic", lambda: clock[0])
    settings = Settings(kafka=KafkaSettings(**kafka))
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    monkeypatch.setattr(daemon.health._backoff, "next_delay", lambda: 0.0)
    monkeypatch.setattr(daemon.delivery, "replace", lambda: None)
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("no stall in an outage"))
    return daemon, metrics


def _refuse(*_: object) -> None:
    raise DeliveryError("not acknowledged")


def _record(offset: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(topic=TP.topic, partition=TP.partition, offset=offset)


def _run_until_exit(daemon: Daemon, clock: list[float], limit_s: float) -> float:
    """Run the loop until it gives up (the seconds that took), failing past ``limit_s``."""
    start, consumer = clock[0], daemon.consumer
    real_poll = consumer.poll

    def poll(**kwargs: int) -> dict:
        if clock[0] - start > limit_s:
            daemon._stop.set()
            pytest.fail(f"still running {clock[0] - start:.0f} s into the outage")
        return real_poll(**kwargs)

    consumer.poll = poll
    with pytest.raises(BrokerUnavailableError, match="unavailable_exit_s"):
        daemon._loop()
    return clock[0] - start


def test_batches_refused_between_empty_polls_end_the_run_after_unavailable_exit_s(
    fitted, monkeypatch
) -> None:
    # Each refused batch started the outage, and the next empty poll's connection check (the consumer
    # is connected) ended it: a broker taking no produce held the daemon forever, and nothing restarted it.
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock, unavailable_exit_s=120.0)
    daemon.consumer = _Consumer(clock, [{TP: [_record(100)]}, {}])  # type: ignore[assignment]
    monkeypatch.setattr(daemon, "_handle", _refuse)
    took = _run_until_exit(daemon, clock, limit_s=600.0)
    assert 120.0 <= took <= 130.0
    assert metrics.broker_connected._value.get() == 0


def test_quiet_time_resolutions_refused_on_idle_polls_end_the_run_after_unavailable_exit_s(
    fitted, monkeypatch
) -> None:
    # A quiet input: only idle polls, and the resolutions their sweeps produce are refused. That was
    # logged and never counted, so the outage was neither shown nor timed.
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock, unavailable_exit_s=120.0)
    daemon.consumer = _Consumer(clock, [{}], step_s=1.0)  # type: ignore[assignment]
    resolution = Outgoing("anomaly-alerts", b"q", b"{}")
    monkeypatch.setattr(daemon.processor, "sweep", lambda: [resolution])
    monkeypatch.setattr(daemon.delivery, "deliver", lambda messages: _refuse() if messages else None)
    took = _run_until_exit(daemon, clock, limit_s=600.0)
    assert 120.0 <= took <= 130.0
    sample = metrics.registry.get_sample_value
    assert sample("dhag_broker_failures_total", {"operation": "produce"}) >= 100


def test_a_produce_outage_ends_with_a_delivery_not_with_a_consumer_that_works(fitted, monkeypatch) -> None:
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock, unavailable_exit_s=120.0)
    daemon._stop.set()  # no backoff waits
    health = daemon.health
    health.failure("produce", KafkaTimeoutError("not acknowledged"))
    held_at = daemon.clock()
    for _ in range(10):  # the consumer is connected and commits: the produce outage goes on
        clock[0] += 5.0
        health.check(_Consumer(clock, [{}]))
        health.success("consume")
    assert health.failing_since == 10_000.0 and metrics.broker_connected._value.get() == 0
    assert daemon.clock() == held_at  # the hysteresis's clock stays held: nothing scored is delivered
    clock[0] += 30.0
    health.success("produce")
    assert health.failing_since is None and metrics.broker_connected._value.get() == 1
    clock[0] += 300.0
    health.failure("produce", KafkaTimeoutError("a new outage"))  # not one of 300 s: no exit
    assert health.failing_since == clock[0]


def test_a_consumer_outage_ends_when_the_consumer_works_again_whatever_the_producer_does(
    fitted, monkeypatch
) -> None:
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock, unavailable_exit_s=120.0)
    daemon._stop.set()
    health = daemon.health
    health.failure("poll", KafkaTimeoutError("broker gone"))
    clock[0] += 10.0
    health.success("produce")  # a delivery proves nothing about polls and commits
    assert health.failing_since == 10_000.0
    clock[0] += 10.0
    health.success("consume")
    assert health.failing_since is None and metrics.broker_connected._value.get() == 1
