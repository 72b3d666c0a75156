"""On a transactional input topic every transaction ends with a commit marker: it takes an offset, is
never handed out as a record, and kafka-python's position passes it once the records before it are
polled. A daemon that has processed everything stands at the position past the marker, not at its
last record + 1: its lag is 0 there, and a backlog noted up to the marker is read through."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from kafka import TopicPartition
from kafka.consumer.subscription_state import SubscriptionState
from kafka.errors import IllegalStateError
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.brokerlink import record_lag
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")
TP = TopicPartition("in", 0)
LAST = 9  # offsets 0..9 hold records, 10 the commit marker: the high watermark is 11


class _Transactional:
    """One partition of a transactional topic: records up to ``LAST``, a commit marker after them."""

    def __init__(self, position: int | None = LAST + 2, highwater: int = LAST + 2) -> None:
        self.at, self.end, self.held = position, highwater, {TP}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def highwater(self, tp: TopicPartition) -> int:
        if tp not in self.held:
            raise IllegalStateError("Partition is not assigned")
        return self.end

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        if tp not in self.held:
            raise IllegalStateError("Partition is not assigned")
        return self.at

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        pass

    def pause(self, *partitions: TopicPartition) -> None:
        pass


def _lag(metrics: PipelineMetrics) -> float | None:
    return metrics.registry.get_sample_value("dhag_consumer_lag_records", {"topic": "in", "partition": "0"})


def test_a_caught_up_partition_with_a_commit_marker_after_its_last_record_has_no_lag() -> None:
    # Before, the lag was the high watermark minus (last offset + 1): 1 while fully caught up, set back
    # after every batch once the periodic look had corrected it to 0.
    metrics = PipelineMetrics(CollectorRegistry())
    record_lag(_Transactional(), metrics, {("in", 0): LAST + 1})  # type: ignore[arg-type]
    assert _lag(metrics) == 0


def test_records_waiting_past_the_marker_still_count() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    record_lag(_Transactional(highwater=LAST + 40), metrics, {("in", 0): LAST + 1})  # type: ignore[arg-type]
    assert _lag(metrics) == 38


def test_without_a_known_position_the_last_record_counts() -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    record_lag(_Transactional(position=None), metrics, {("in", 0): LAST + 1})  # type: ignore[arg-type]
    assert _lag(metrics) == 1
    gone = _Transactional()
    gone.held = set()  # revoked meanwhile: no position, no high watermark; the gauge is left as it was
    record_lag(gone, metrics, {("in", 0): LAST + 1})  # type: ignore[arg-type]
    assert _lag(metrics) == 1


class _KafkaPythonState(_Transactional):
    """kafka-python's own subscription state; its ``position()`` would ask the coordinator for the
    committed offsets of any assigned partition without a position, so it must not be called."""

    def __init__(self, position: int | None) -> None:
        super().__init__()
        self._subscription = SubscriptionState()
        self._subscription.assign_from_user([TP])
        if position is not None:
            self._subscription.seek(TP, position)

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        pytest.fail("a batch must not wait on the broker for a position")


@pytest.mark.parametrize(("position", "lag"), [(LAST + 2, 0), (None, 1)])
def test_the_position_is_read_from_kafka_pythons_subscription_state(position: int | None, lag: int) -> None:
    metrics = PipelineMetrics(CollectorRegistry())
    record_lag(_KafkaPythonState(position), metrics, {("in", 0): LAST + 1})  # type: ignore[arg-type]
    assert _lag(metrics) == lag


class _Delivery:
    def __init__(self) -> None:
        self.sent: list = []

    def deliver(self, messages: list) -> None:
        self.sent.extend(messages)


def test_a_batch_that_reaches_the_commit_marker_reads_the_partition_through(fitted) -> None:
    # Before, a look that found records waiting noted the end past the marker, and a batch that read
    # every record before it never reached that end: the partition's read-through time (at which the
    # silence of its assets is judged) stayed behind until the next look, a period later.
    settings = Settings.model_validate({"kafka": {"topics": {"input": "in"}}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.consumer = consumer = _Transactional(position=0)  # type: ignore[assignment]
    daemon.delivery = _Delivery()  # type: ignore[assignment]
    daemon.read_through.looked({TP: (0, LAST + 2)}, now=60.0)  # 10 records and the marker waiting
    rows = normal(np.random.default_rng(3), LAST + 1)
    records = [Rec("in", 0, i, b"a-1", reading("a-1", 1.0 + i, row)) for i, row in enumerate(rows)]
    consumer.at = LAST + 2  # the poll handed out every record: kafka-python's position passed the marker
    daemon._handle(records)
    assert daemon.read_through.until(TP, now=100.0) == 60.0
    assert _lag(metrics) == 0
