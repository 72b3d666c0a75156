"""The daemon's view of Kafka's health: an outage ends with the first operation that works."""

from __future__ import annotations

import time
import types

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline import brokerlink
from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.stalls import CONFIRM_S


def test_a_commit_that_works_ends_the_outage_so_weeks_later_a_timeout_starts_a_new_one(
    fitted, monkeypatch
) -> None:
    # A busy daemon that delivers nothing (no alerts, no scores topic) and never idles: before, only a
    # delivery or an idle check ended an outage, so two commit timeouts thirty days apart read as one
    # outage of thirty days and the daemon exited with code 3.
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    daemon.request_stop()  # no backoff sleeps
    clock = [1000.0]
    monkeypatch.setattr(brokerlink.time, "monotonic", lambda: clock[0])
    daemon.consumer = types.SimpleNamespace(commit=lambda offsets, timeout_ms: None)
    daemon.health.failure("commit", KafkaTimeoutError("a transient timeout"))
    assert metrics.broker_connected._value.get() == 0
    daemon._pending = {TopicPartition("sensor-readings", 0): 5}
    daemon._commit_pending()
    assert metrics.broker_connected._value.get() == 1
    clock[0] += 30 * 86_400
    daemon.health.failure("commit", KafkaTimeoutError("another one, a month later"))  # no exit
    clock[0] += settings.kafka.unavailable_exit_s
    with pytest.raises(BrokerUnavailableError):
        daemon.health.failure("commit", KafkaTimeoutError("a real outage"))


class _PausedConsumer:
    """Two partitions: 0 paused by the DLQ cap with records piling up, 1 caught up."""

    def __init__(self) -> None:
        self.ends = {TopicPartition("sensor-readings", 0): 500, TopicPartition("sensor-readings", 1): 40}
        self.restarted = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def paused(self) -> set[TopicPartition]:
        return {TopicPartition("sensor-readings", 0)}

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # as kafka-python's before a fetch of the partition

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return {0: 120, 1: 40}[tp.partition]


def test_the_lag_of_a_paused_partition_keeps_being_reported_and_is_no_stall(fitted, monkeypatch) -> None:
    # The lag gauge was set per processed batch only: while the DLQ cap paused consumption it froze at
    # its last value as the records piled up, and DhagConsumerLagHigh could not see them.
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    daemon.consumer = _PausedConsumer()  # type: ignore[assignment]
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("a paused partition is no stall"))
    daemon._last_records_at = 0.0  # nothing fetched for longer than the request timeout
    daemon.positions.last_at = -1e18  # a check is due
    daemon._check_positions()
    lag = metrics.registry.get_sample_value
    assert lag("dhag_consumer_lag_records", {"topic": "sensor-readings", "partition": "0"}) == 380
    assert lag("dhag_consumer_lag_records", {"topic": "sensor-readings", "partition": "1"}) == 0


class _StarvedConsumer(_PausedConsumer):
    """Partition 0 has records waiting and is never fetched; partition 1 is read on, or caught up."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[int, int | None] = {0: 120, 1: 40}
        self.stopped: set[TopicPartition] = set()

    def paused(self) -> set[TopicPartition]:
        return self.stopped

    def position(self, tp: TopicPartition, timeout_ms: int) -> int | None:
        return self.at[tp.partition]


def _daemon(fitted, **kafka: float) -> tuple[Daemon, PipelineMetrics]:
    settings = Settings(kafka=KafkaSettings(**kafka))
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    return daemon, metrics


def _check(daemon: Daemon, *, fetched_ago_s: float, idle: bool) -> None:
    daemon._last_records_at = time.monotonic() - fetched_ago_s
    daemon.positions.last_at = -1e18  # a look is due
    daemon._check_positions(idle=idle)


def test_a_backlog_worked_through_partition_by_partition_is_no_stall(fitted, monkeypatch) -> None:
    # kafka-python drains one partition's fetch before the next one's: partition 0 keeps its position
    # for minutes while partition 1's backlog moves. Nor is a batch slower than the period a stall.
    daemon, metrics = _daemon(fitted)
    consumer = daemon.consumer = _StarvedConsumer()  # type: ignore[assignment]
    consumer.at[1] = 0  # 40 records wait on partition 1 as well
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("a healthy consumer replaced"))
    for _ in range(5):
        consumer.at[1] += 5
        consumer.ends[TopicPartition("sensor-readings", 1)] += 5
        _check(daemon, fetched_ago_s=0.0, idle=True)  # records came just now, from partition 1
        _check(daemon, fetched_ago_s=600.0, idle=False)  # a ten-minute batch, then this look
    sample = metrics.registry.get_sample_value
    assert sample("dhag_consumer_lag_records", {"topic": "sensor-readings", "partition": "0"}) == 380
    assert sample("dhag_caught_up_timestamp_seconds") == 0


def test_a_partition_that_alone_has_records_and_stands_still_gets_a_new_consumer(fitted, monkeypatch) -> None:
    # One broker that does not answer starves the partitions it leads while the others deliver: the
    # lag was set only for partitions in a batch (380 records on partition 0 showed nowhere), and the
    # consumer was replaced only when nothing at all was fetched.
    daemon, metrics = _daemon(fitted)
    daemon.consumer = _StarvedConsumer()  # type: ignore[assignment]
    restarts: list[int] = []
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: restarts.append(1))
    for look in range(3):
        assert restarts == [], look  # unmoved over one period only: another partition's turn, maybe
        _check(daemon, fetched_ago_s=0.0, idle=False)  # partition 1 delivers as its records come
    sample = metrics.registry.get_sample_value
    assert restarts == [1] and sample("dhag_broker_failures_total", {"operation": "stalled"}) == 1
    assert sample("dhag_consumer_lag_records", {"topic": "sensor-readings", "partition": "0"}) == 380


def test_a_consumer_that_fetches_nothing_while_records_wait_is_replaced(fitted, monkeypatch) -> None:
    daemon, metrics = _daemon(fitted)
    consumer = daemon.consumer = _StarvedConsumer()  # type: ignore[assignment]
    # Its partitions came past their grace period (test_pipeline_stall_timer: the one they get).
    daemon.positions.rejoined(consumer.assignment(), daemon.stall_clock() - 31.0)
    restarts: list[int] = []
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: restarts.append(1))
    _check(daemon, fetched_ago_s=31.0, idle=True)
    assert restarts == []  # the records may have come just now: looked at again shortly
    assert daemon.positions.last_at + daemon.positions.period_s <= daemon.stall_clock() + CONFIRM_S
    _check(daemon, fetched_ago_s=36.0, idle=True)
    assert (
        restarts == [1]
        and metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "stalled"}) == 1
    )


@pytest.mark.parametrize(
    "case", ["caught up", "no assignment", "position unknown", "paused with records waiting"]
)
def test_caught_up_means_partitions_held_positions_known_and_nothing_waiting(
    fitted, monkeypatch, case
) -> None:
    # Any look that found nothing waiting on a partition being read counted as caught up: joining the
    # group, positions not yet known, or every partition paused with records piling up hid a stall.
    daemon, metrics = _daemon(fitted)
    consumer = daemon.consumer = _StarvedConsumer()  # type: ignore[assignment]
    consumer.at = {0: 500, 1: 40}
    if case == "no assignment":
        consumer.ends = {}
    elif case == "position unknown":
        consumer.at[0] = None
    elif case == "paused with records waiting":
        consumer.at[0] = 120
        consumer.stopped = {TopicPartition("sensor-readings", 0)}
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: None)
    before = time.time()
    _check(daemon, fetched_ago_s=0.0, idle=True)
    stamp = metrics.registry.get_sample_value("dhag_caught_up_timestamp_seconds")
    assert (stamp >= before) == (case == "caught up"), case


def test_a_batch_rewound_through_a_produce_outage_is_no_stall(fitted, monkeypatch) -> None:
    # A broker refusing produce makes the daemon rewind and retry the batch: its partition's position
    # stands still for as long, and the outage is the daemon's to handle (and report), not a stall.
    from kafka.errors import KafkaTimeoutError

    daemon, _ = _daemon(fitted)
    daemon.consumer = _StarvedConsumer()  # type: ignore[assignment]
    daemon._stop.set()  # the failure's backoff returns at once (the look itself is not due when stopping)
    daemon.health.failure("produce", KafkaTimeoutError("not acknowledged"))
    daemon._stop.clear()
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("replaced during an outage"))
    for _ in range(4):
        _check(daemon, fetched_ago_s=0.0, idle=False)


class _RewoundConsumer(_StarvedConsumer):
    """Records wait on two partitions; every batch is refused by the broker and rewound, and every
    fourth poll comes back empty (the fetch after the seek not back within the poll timeout)."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock, self.polls = clock, 0
        self.at = {0: 100, 1: 200}
        self.ends = {TopicPartition("sensor-readings", p): 10_000 for p in (0, 1)}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp.partition] = offset

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.polls += 1
        self.clock[0] += 3.0
        if self.polls % 4 == 0:
            return {}
        tp = TopicPartition("sensor-readings", self.polls % 2)
        start, self.at[tp.partition] = self.at[tp.partition], self.at[tp.partition] + 50
        return {
            tp: [
                types.SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=start + i)
                for i in range(50)
            ]
        }


def test_batches_rewound_through_a_produce_outage_are_no_stall(fitted, monkeypatch) -> None:
    # A rewound batch comes back to the same position at every look: counted as a partition standing
    # still, the consumer was replaced 108 s into the outage, on top of the outage's own handling
    # (which here lets the outage last: test_pipeline_produce_outage has its end).
    from pipeline.delivery import DeliveryError

    clock = [10_000.0]
    for module in ("pipeline.daemon", "pipeline.brokerlink"):
        monkeypatch.setattr(f"{module}.time.monotonic", lambda: clock[0])
    daemon, _ = _daemon(fitted, unavailable_exit_s=3600.0)
    daemon._last_records_at = daemon.positions.last_at = clock[0]
    consumer = daemon.consumer = _RewoundConsumer(clock)  # type: ignore[assignment]
    monkeypatch.setattr(daemon.health._backoff, "next_delay", lambda: 0.0)
    monkeypatch.setattr(daemon.delivery, "replace", lambda: None)
    monkeypatch.setattr(daemon, "_handle", lambda records: (_ for _ in ()).throw(DeliveryError("refused")))
    monkeypatch.setattr(
        daemon, "_restart_consumer", lambda: pytest.fail(f"replaced at {clock[0] - 10_000:.0f} s")
    )
    real_poll = consumer.poll

    def poll(**kwargs: int) -> dict:
        if clock[0] > 10_600.0:
            daemon._stop.set()
        return real_poll(**kwargs)

    consumer.poll = poll  # type: ignore[method-assign]
    daemon._loop()
    assert consumer.polls > 150
