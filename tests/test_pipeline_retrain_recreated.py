"""The alerts or labels topic deleted and created again (with fewer partitions) under the running
retrainer: the partitions gone are dropped, and those past their new end are read from their start."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from log_support import own_text
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer
from pipeline.retrain.storepositions import positions, record

TOPICS = ("anomaly-alerts", "operator-labels", "sensor-readings")


class _Cluster:
    """kafka-python's view of the three topics, as a broker that answers a fetch past a partition's end
    with nothing (the embedded Tansu broker does): a position is only ever moved by the retrainer.
    ``ids``: whether the broker gives topic ids (Kafka 2.8 and later, Tansu)."""

    def __init__(self, ids: bool = True) -> None:
        self._client = SimpleNamespace(cluster=self)
        self.ids = dict.fromkeys(TOPICS, 1) if ids else {}
        self.partitions = dict.fromkeys(TOPICS, 3)
        self.ends = {TopicPartition(t, p): 50 for t in TOPICS for p in range(3)}
        self.assigned: list[TopicPartition] = []
        self.pos: dict[TopicPartition, int] = {}
        self.fail_ends = False

    def topic_id(self, topic: str) -> int | None:
        return self.ids.get(topic)

    def recreate(self, topic: str, partitions: int, records: int) -> None:
        if topic in self.ids:
            self.ids[topic] += 1
        self.partitions[topic] = partitions
        for p in range(3):
            self.ends.pop(TopicPartition(topic, p), None)
        self.ends |= {TopicPartition(topic, p): records for p in range(partitions)}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions[topic]))

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = list(parts)

    def committed(self, tp: TopicPartition) -> int | None:
        return None

    def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.fail_ends:
            raise KafkaTimeoutError("no answer")
        return {tp: 0 for tp in parts}

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.fail_ends:
            raise KafkaTimeoutError("no answer")
        return {tp: self.ends[tp] for tp in parts}  # KeyError for a partition gone, as kafka-python's

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos[tp] = offset

    def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.pos |= dict.fromkeys(tps, 0)

    seek_to_end = seek_to_beginning

    def position(self, tp: TopicPartition) -> int:
        return self.pos[tp]

    def poll(self, timeout_ms: int = 0) -> dict:
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)


class _Producer:
    def flush(self, timeout: float | None = None) -> None:
        pass


def _running(
    clock: list[float], ids: bool = True
) -> tuple[Retrainer, _Cluster, LabelStore, CollectorRegistry]:
    """A retrainer that has read every partition of the three topics up to 50."""
    store, registry = LabelStore(":memory:"), CollectorRegistry()
    retrainer = Retrainer(
        Settings(), store, RetrainMetrics(registry), bootstrap_servers="x:1", monotonic=lambda: clock[0]
    )
    retrainer._current_model = lambda: None  # type: ignore[method-assign]
    cluster = _Cluster(ids)
    retrainer._parts = retrainer._assign(cluster)  # type: ignore[arg-type]  # as open() does
    for tp in cluster.assigned:
        cluster.seek(tp, 50)
    record(store, dict.fromkeys(cluster.assigned, 50))
    store.commit()
    return retrainer, cluster, store, registry


def _count(registry: CollectorRegistry, change: str) -> float | None:
    return registry.get_sample_value("dhag_retrain_partitions_recreated_total", {"change": change})


@pytest.mark.parametrize("ids", [True, False])
def test_a_labels_topic_recreated_with_fewer_partitions_is_read_from_its_start(
    ids: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, the retrainer kept fetching labels partition 2 (gone) and, on a broker that answers a
    # fetch past the end with nothing, waited on partitions 0 and 1 until the new topic's offsets
    # passed 50: the first 50 labels of each were never read.
    clock = [0.0]
    retrainer, cluster, store, registry = _running(clock, ids)
    cluster.recreate("operator-labels", 2, records=4)
    clock[0] += 61
    with caplog.at_level(logging.WARNING):
        retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    labels = [TopicPartition("operator-labels", p) for p in range(3)]
    assert labels[2] not in cluster.assigned and len(cluster.assigned) == 8
    assert cluster.pos[labels[0]] == cluster.pos[labels[1]] == 0
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned if tp.topic != "operator-labels")
    mine = positions(store) or {}
    assert (
        "operator-labels/2" not in mine and mine["operator-labels/0"] == 0 and mine["anomaly-alerts/2"] == 50
    )
    why = "has a new topic id" if ids else "holds records only up to 4"
    assert f"operator-labels/0, read up to offset 50, {why}" in caplog.text
    assert "no longer in their topic" in caplog.text and "operator-labels/2" in caplog.text
    assert _count(registry, "read_again") == 2 and _count(registry, "dropped") == 1


def test_input_partitions_past_their_end_are_left_to_kafka_and_a_quiet_check_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    retrainer, cluster, _, registry = _running(clock)
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]  # nothing recreated
    cluster.recreate("sensor-readings", 3, records=4)  # a reading sampled twice would count twice
    clock[0] += 61
    with caplog.at_level(logging.WARNING):
        retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned) and len(cluster.assigned) == 9
    assert own_text(caplog) == "" and _count(registry, "read_again") == _count(registry, "dropped") == 0


def test_a_topic_recreated_past_the_old_positions_is_read_from_its_start_by_its_new_id() -> None:
    # The new alerts topic already holds more than the old one did when the check comes: its first 50
    # records of each partition would never be read.
    clock = [0.0]
    retrainer, cluster, _, registry = _running(clock)
    cluster.recreate("anomaly-alerts", 3, records=80)
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert all(cluster.pos[TopicPartition("anomaly-alerts", p)] == 0 for p in range(3))
    assert _count(registry, "read_again") == 3


def test_an_end_offset_under_reported_is_no_recreation_where_topics_have_ids() -> None:
    # The embedded Tansu answers the end offset with its last batch's first offset + 1.
    clock = [0.0]
    retrainer, cluster, _, registry = _running(clock)
    cluster.ends = dict.fromkeys(cluster.ends, 41)
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned)
    assert _count(registry, "read_again") == 0


@pytest.mark.parametrize("ids", [True, False])
def test_ends_not_known_leave_the_positions_to_the_next_check(
    ids: bool, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [0.0]
    retrainer, cluster, _, registry = _running(clock, ids)
    cluster.recreate("anomaly-alerts", 3, records=4)
    cluster.fail_ends = True
    clock[0] += 61
    with caplog.at_level(logging.WARNING):
        retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert cluster.pos[TopicPartition("anomaly-alerts", 0)] == 50
    assert "cannot compare the positions with the topics' ends" in caplog.text
    cluster.fail_ends = False
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert all(cluster.pos[TopicPartition("anomaly-alerts", p)] == 0 for p in range(3))
    assert _count(registry, "read_again") == 3


def _restarted(
    store: LabelStore, cluster: _Cluster, clock: list[float]
) -> tuple[Retrainer, CollectorRegistry]:
    """A retrainer started again on ``store`` (the one before stopped): its partitions taken, as open()."""
    registry = CollectorRegistry()
    retrainer = Retrainer(
        Settings(), store, RetrainMetrics(registry), bootstrap_servers="x:1", monotonic=lambda: clock[0]
    )
    retrainer._current_model = lambda: None  # type: ignore[method-assign]
    cluster.pos.clear()
    retrainer._parts = retrainer._assign(cluster)  # type: ignore[arg-type]
    return retrainer, registry


def _read_to(store: LabelStore, topic: str, offset: int) -> None:
    """The polls of a restarted retrainer read each partition of ``topic`` to ``offset``."""
    record(store, {TopicPartition(topic, p): offset for p in range(3)})
    store.commit()


@pytest.mark.parametrize("topic", ["anomaly-alerts", "operator-labels"])
def test_a_topic_recreated_while_the_retrainer_was_stopped_is_read_from_its_start(
    topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, a new topic holding more records than the stored position (50) was resumed at 50: its
    # first 50 alerts or labels of each partition were never read, without a word.
    clock = [0.0]
    _, cluster, store, _ = _running(clock)
    cluster.recreate(topic, 3, records=80)
    with caplog.at_level(logging.WARNING):
        _, registry = _restarted(store, cluster, clock)
    assert all(cluster.pos[TopicPartition(topic, p)] == 0 for p in range(3))
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned if tp.topic != topic)
    assert _count(registry, "read_again") == 3 and _count(registry, "dropped") == 0
    assert (
        f"{topic}/0, read up to offset 50 before the retrainer started, has a new topic id (the topic was "
        "deleted and created again while the retrainer was stopped): reading it again from its start"
    ) in caplog.text
    _read_to(store, topic, 80)
    _, again = _restarted(store, cluster, clock)  # the id it kept is the topic's: read on, once
    assert all(cluster.pos[tp] == (80 if tp.topic == topic else 50) for tp in cluster.assigned)
    assert _count(again, "read_again") == 0


def test_a_store_that_kept_no_topic_ids_takes_the_topics_ids_at_its_start() -> None:
    # A store of an earlier release kept its positions without the topics' ids: they are taken at the
    # first start (nothing read again), and a recreation while stopped after that is told.
    clock = [0.0]
    _, cluster, store, _ = _running(clock)
    store._db.execute("DELETE FROM state WHERE key = 'kafka_topic_ids'")
    store.commit()
    _, registry = _restarted(store, cluster, clock)
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned) and _count(registry, "read_again") == 0
    cluster.recreate("operator-labels", 3, records=80)
    _, registry = _restarted(store, cluster, clock)
    assert all(cluster.pos[TopicPartition("operator-labels", p)] == 0 for p in range(3))
    assert _count(registry, "read_again") == 3


def test_a_recreation_seen_while_running_is_not_read_again_at_the_next_start() -> None:
    clock = [0.0]
    retrainer, cluster, store, registry = _running(clock)
    cluster.recreate("anomaly-alerts", 3, records=80)
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert _count(registry, "read_again") == 3
    _read_to(store, "anomaly-alerts", 80)
    _, again = _restarted(store, cluster, clock)
    assert all(cluster.pos[tp] == (80 if tp.topic == "anomaly-alerts" else 50) for tp in cluster.assigned)
    assert _count(again, "read_again") == 0


def test_where_the_broker_gives_no_topic_ids_a_start_resumes_from_the_stored_positions() -> None:
    clock = [0.0]
    _, cluster, store, _ = _running(clock, ids=False)
    _, registry = _restarted(store, cluster, clock)
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned) and _count(registry, "read_again") == 0


def test_a_partition_added_by_a_recreation_not_yet_handled_leaves_the_others_to_be_read_again() -> None:
    # The recreated topic has a partition more: taken as added (from its start), while the check of the
    # others failed. Taking the new id then, for the new partition, hid the recreation from the next check.
    clock = [0.0]
    retrainer, cluster, store, registry = _running(clock)
    cluster.recreate("operator-labels", 4, records=80)
    cluster.fail_ends = True
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert TopicPartition("operator-labels", 3) in cluster.assigned
    assert cluster.pos[TopicPartition("operator-labels", 0)] == 50
    cluster.fail_ends = False
    clock[0] += 61
    retrainer._poll(cluster, _Producer())  # type: ignore[arg-type]
    assert all(cluster.pos[TopicPartition("operator-labels", p)] == 0 for p in range(4))
    assert _count(registry, "read_again") == 4  # each partition of the new topic id, the added one too


def test_an_end_offset_under_reported_at_a_start_is_no_recreation_where_topics_have_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The embedded Tansu answers the end offset with its last batch's first offset + 1: a store that
    # read every partition to 50 found them "holding records only up to 41 (the topic was recreated?)"
    # at its next start, and read each again from its start.
    clock = [0.0]
    _, cluster, store, _ = _running(clock)
    cluster.ends = dict.fromkeys(cluster.ends, 41)
    with caplog.at_level(logging.WARNING):
        _, registry = _restarted(store, cluster, clock)
    assert all(cluster.pos[tp] == 50 for tp in cluster.assigned)
    assert own_text(caplog) == "" and _count(registry, "read_again") == 0


def test_without_topic_ids_a_position_past_the_end_at_a_start_is_read_from_its_start() -> None:
    clock = [0.0]
    _, cluster, store, _ = _running(clock, ids=False)
    cluster.ends = dict.fromkeys(cluster.ends, 4)
    _restarted(store, cluster, clock)
    assert all(cluster.pos[tp] == 0 for tp in cluster.assigned)
