"""The committed offsets a rebalance reads, for the partitions that come back, share one budget: the
share of ``kafka.max_poll_interval_ms`` left before the next poll."""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

PARTS = [TopicPartition("in", p) for p in range(4)]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Consumer:
    """A consumer whose group coordinator never answers an offset fetch: each costs its timeout."""

    def __init__(self, clock: _Clock, request_timeout_ms: int, answers: dict[TopicPartition, int]) -> None:
        self.clock, self.request_timeout_ms, self.answers = clock, request_timeout_ms, answers
        self.asked: list[int | None] = []

    def assignment(self) -> set[TopicPartition]:
        return set(PARTS)

    def committed(self, tp: TopicPartition, metadata: bool = False, timeout_ms: int | None = None) -> int:
        self.asked.append(timeout_ms)
        if tp in self.answers:
            return self.answers[tp]
        self.clock.now += (self.request_timeout_ms if timeout_ms is None else timeout_ms) / 1000
        raise KafkaTimeoutError(f"no committed offset for {tp} within the timeout")


def _daemon(fitted, monkeypatch: pytest.MonkeyPatch, answers: dict[TopicPartition, int], carry_over_s=None):  # noqa: ANN001, ANN202
    settings = Settings.model_validate(
        {"kafka": {"topics": {"input": "in"}}, "alerts": {"carry_over_s": carry_over_s}}
    )
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    clock = _Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    consumer = _Consumer(clock, settings.kafka.request_timeout_ms, answers)
    daemon.consumer = consumer  # type: ignore[assignment]
    daemon._polled_at = clock()  # the poll just returned
    daemon._committed = dict.fromkeys(PARTS, 7)
    for tp in PARTS:
        daemon.processor.trackers.of((tp.topic, tp.partition))
    daemon._owned = set(PARTS)
    return daemon, consumer, clock


def test_a_coordinator_that_does_not_answer_costs_one_budget_not_one_timeout_per_partition(
    fitted, monkeypatch
) -> None:
    # Each held-over partition's committed offset was read with no timeout: four partitions and a
    # silent coordinator held the next poll for 4 x request_timeout_ms (120 s), four times the poll
    # interval, and the consumer lost its partitions.
    daemon, consumer, clock = _daemon(fitted, monkeypatch, {})
    start = clock()
    daemon._on_revoked(set(PARTS), lost=False)
    daemon._on_assigned(set(PARTS))
    daemon._apply_rebalances()
    spent_ms = (clock() - start) * 1000
    kafka = daemon.kafka
    assert spent_ms <= 0.5 * kafka.max_poll_interval_ms  # the share a batch gets, at most
    assert None not in consumer.asked and sum(consumer.asked) <= 0.5 * kafka.max_poll_interval_ms
    # Not one was read: whether another member scored their records is unknown, so they start afresh.
    assert not any((tp.topic, tp.partition) in daemon.processor.trackers for tp in PARTS)


def test_partitions_read_in_time_keep_their_state_and_the_rest_start_afresh(fitted, monkeypatch) -> None:
    answers = {PARTS[0]: 7, PARTS[1]: 7}
    daemon, consumer, _ = _daemon(fitted, monkeypatch, answers)
    daemon._on_revoked(set(PARTS), lost=False)
    daemon._on_assigned(set(PARTS))
    daemon._apply_rebalances()
    kept = {p for (_, p) in daemon.processor.trackers}
    assert kept == {0, 1}


def _carrying(fitted, monkeypatch: pytest.MonkeyPatch, answers: dict[TopicPartition, int]):  # noqa: ANN001, ANN202
    """The rig with ``alerts.carry_over_s`` set, and the alerts-topic read recording its time limit
    (and taking all of it: a broker that does not answer)."""
    daemon, consumer, clock = _daemon(fitted, monkeypatch, answers, carry_over_s=3600.0)
    reads: list[float] = []

    def read_alert_events(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        reads.append(timeout_s)
        clock.now += timeout_s
        raise KafkaTimeoutError(f"the alerts topic did not answer within {timeout_s} s")

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read_alert_events)
    return daemon, consumer, clock, reads


def test_the_carry_over_read_gets_only_what_the_committed_offset_reads_left(fitted, monkeypatch) -> None:
    # The carry-over read had a budget of its own: after the committed-offset reads had used up the
    # share of the poll interval, it waited that long again, and the next poll came after the interval.
    daemon, consumer, clock, reads = _carrying(fitted, monkeypatch, {})
    look_ms = daemon._look_ms()
    start = clock()
    daemon._on_revoked(set(PARTS), lost=False)
    daemon._on_assigned(set(PARTS))
    daemon._apply_rebalances()
    assert sum(consumer.asked) + 1000 * sum(reads) <= look_ms
    assert (clock() - start) * 1000 <= look_ms
    # No time was left to read the alerts topic: the partitions start afresh, as after a failed read.
    assert reads == []
    assert daemon.metrics.carry_over_failed._value.get() > 0
    assert daemon.metrics.registry.get_sample_value("dhag_alerts_carry_over_failed_age_seconds") < 60
    assert daemon.metrics.broker_failures.labels("carry_over")._value.get() == 1
    assert not any((tp.topic, tp.partition) in daemon.processor.trackers for tp in PARTS)


def test_the_carry_over_read_gets_its_budget_when_the_offset_reads_took_no_time(fitted, monkeypatch) -> None:
    moved = dict.fromkeys(PARTS, 9)  # answered at once: another member scored them
    daemon, consumer, clock, reads = _carrying(fitted, monkeypatch, moved)
    look_ms = daemon._look_ms()
    daemon._on_revoked(set(PARTS), lost=False)
    daemon._on_assigned(set(PARTS))
    daemon._apply_rebalances()
    kafka = daemon.kafka
    assert reads == [
        pytest.approx(min(look_ms, kafka.request_timeout_ms, 0.5 * kafka.max_poll_interval_ms) / 1000)
    ]
    assert daemon.metrics.broker_failures.labels("carry_over")._value.get() == 1  # the read timed out
