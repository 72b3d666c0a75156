"""A refused label is never lost to a DLQ the broker would not take: kafka-python's flush does not
raise for a refused send, so the retrainer checks each one before it commits or forgets the label."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.producer.future import FutureProduceResult
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore, Source
from pipeline.metrics import RetrainMetrics
from pipeline.records import DLQ_VALUE_LIMIT
from pipeline.retrain.service import Retrainer
from pipeline.retrain.storepositions import positions, record


class _Producer:
    """Each send's result arrives as kafka-python's does: on the future, never raised by flush."""

    def __init__(self) -> None:
        self.up, self.sent = False, []

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        future = FutureProduceResult(TopicPartition(topic, 0))
        if self.up:
            future.success((0, 0))
            self.sent.append((topic, value, dict(headers or [])))
        else:
            future.failure(KafkaTimeoutError("the broker did not acknowledge"))
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


class _Consumer:
    def __init__(self) -> None:
        self.batch: dict = {}
        self.commits: list[dict] = []
        self.seeks: list[tuple[int, int]] = []

    def poll(self, timeout_ms: int = 0) -> dict:
        batch, self.batch = self.batch, {}
        return batch

    def commit(self, offsets: dict) -> None:
        self.commits.append({(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(t, 0) for t in ("operator-labels", "sensor-readings")}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.partition, offset))


def _retrainer(
    clock: list[float], settings: Settings | None = None, ticks: list[float] | None = None
) -> tuple[Retrainer, LabelStore, CollectorRegistry]:
    """A retrainer on ``clock`` (and on ``ticks`` as its monotonic clock; by default the same)."""
    store, registry = LabelStore(":memory:"), CollectorRegistry()
    monotonic = clock if ticks is None else ticks
    retrainer = Retrainer(
        settings or Settings(),
        store,
        RetrainMetrics(registry),
        bootstrap_servers="x:1",
        clock=lambda: clock[0],
        monotonic=lambda: monotonic[0],
    )
    retrainer._current_model = lambda: None  # type: ignore[method-assign]
    return retrainer, store, registry


def _record(topic: str, offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, partition=0, offset=offset, key=b"k", value=value)


def test_a_label_refused_on_arrival_is_read_again_until_its_dead_letter_is_acknowledged() -> None:
    retrainer, store, registry = _retrainer([1e9])
    consumer, producer = _Consumer(), _Producer()
    labels, readings = TopicPartition("operator-labels", 0), TopicPartition("sensor-readings", 0)
    consumer.batch = {
        labels: [_record(labels.topic, 7, b"{broken")],
        readings: [_record(readings.topic, 3, b"{}")],
    }
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    # Before, the offset was committed past the label and the label was gone.
    assert consumer.commits == [{("sensor-readings", 0): 4}]  # the readings go on; the label does not
    assert consumer.seeks == [(0, 7)]
    assert positions(store) == {"sensor-readings/0": 4}  # nor in the store's own positions
    assert registry.get_sample_value("dhag_labels_dlq_total", {"reason": "not_json"}) == 0
    producer.up = True
    consumer.batch = {labels: [_record(labels.topic, 7, b"{broken")]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert consumer.commits[-1] == {("operator-labels", 0): 8}
    assert positions(store) == {"operator-labels/0": 8, "sensor-readings/0": 4}
    assert [(topic, value) for topic, value, _ in producer.sent] == [("operator-labels.dlq", b"{broken")]
    assert registry.get_sample_value("dhag_labels_dlq_total", {"reason": "not_json"}) == 1


def test_a_pending_label_stays_pending_until_its_dead_letter_is_acknowledged() -> None:
    clock = [1e9]
    retrainer, store, _ = _retrainer(clock)
    consumer, producer = _Consumer(), _Producer()
    raw = b'{"alert_id": "never-seen", "label": "confirmed"}'
    store.add_pending("never-seen", raw, Source("operator-labels", 0, 2), first_seen=clock[0])
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    clock[0] += Settings().retrain.label_retry_s + 1
    retrainer._poll(consumer, producer)  # expired, but the DLQ did not take it
    assert store.pending_count() == 1
    producer.up = True
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 0
    ((topic, value, headers),) = producer.sent
    assert (topic, value, headers["dlq.reason"]) == ("operator-labels.dlq", raw, b"unknown_alert")


def test_a_pending_label_expires_on_time_after_the_wall_clock_ran_ahead_and_was_corrected() -> None:
    # The receipt clock never goes back, so a label that came while the wall clock ran six hours
    # ahead was first seen "then": once the clock was corrected it waited six hours, not label_retry_s.
    clock, ticks = [1e9 + 6 * 3600], [0.0]
    retrainer, store, registry = _retrainer(clock, ticks=ticks)
    consumer, producer = _Consumer(), _Producer()
    producer.up = True
    labels = TopicPartition("operator-labels", 0)
    raw = b'{"alert_id": "never-seen", "label": "anomaly", "operator": "kim", "ts": 5.0}'
    consumer.batch = {labels: [_record(labels.topic, 0, raw)]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 1
    clock[0] = 1e9  # corrected
    ticks[0] += Settings().retrain.label_retry_s - 1
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 1  # not before its time either
    ticks[0] += 2
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 0
    assert registry.get_sample_value("dhag_labels_dlq_total", {"reason": "unknown_alert"}) == 1


def test_a_dead_letter_too_large_for_the_broker_is_cut_and_says_so() -> None:
    retrainer, _, _ = _retrainer([1e9])
    consumer, producer = _Consumer(), _Producer()
    producer.up = True
    labels = TopicPartition("operator-labels", 0)
    huge = b"x" * (2 * 1024 * 1024)  # a consumer fetches up to 10 MiB; a producer sends up to 1 MiB
    consumer.batch = {labels: [_record(labels.topic, 0, huge)]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    ((_, value, headers),) = producer.sent
    assert len(value) == DLQ_VALUE_LIMIT and value == huge[:DLQ_VALUE_LIMIT]
    assert headers["dlq.reason"] == b"oversized" and headers["dlq.truncated_from"] == str(len(huge)).encode()


class _GrowingConsumer(_Consumer):
    """Topics whose partition count an operator raises; records what was assigned and sought."""

    def __init__(self, partitions: int) -> None:
        super().__init__()
        self.partitions = partitions
        self.assigned: list[TopicPartition] = []
        self.started: list[TopicPartition] = []
        self.positions: dict[TopicPartition, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = list(parts)

    def committed(self, tp: TopicPartition) -> int | None:
        return 5 if tp.partition == 0 else None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(parts, 0)

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(parts, 5)

    def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.started.extend(tps)

    def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    seek_to_end = seek_to_beginning


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_partitions_added_while_the_retrainer_runs_are_read_from_their_start(reset: str) -> None:
    # Before, the retrainer took the partitions once at start: after a scale-out, the assets re-hashed
    # onto new input partitions left the normal sample, and labels of alerts on new alerts partitions
    # were dead-lettered as unknown until a restart.
    clock = [1e9]
    retrainer, store, _ = _retrainer(clock, Settings.model_validate({"kafka": {"auto_offset_reset": reset}}))
    # The store read partition 0 of each topic up to where the group did.
    record(
        store,
        {TopicPartition(topic, 0): 5 for topic in ("operator-labels", "anomaly-alerts", "sensor-readings")},
    )
    consumer, producer = _GrowingConsumer(1), _Producer()
    producer.up = True
    retrainer._parts = retrainer._assign(consumer)  # type: ignore[arg-type]  # as open() does
    assert {tp.partition for tp in consumer.assigned} == {0} and len(consumer.assigned) == 3
    consumer.partitions = 3
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert {tp.partition for tp in consumer.assigned} == {0}  # not looked at again yet
    clock[0] += 61
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert sorted({tp.partition for tp in consumer.assigned}) == [0, 1, 2] and len(consumer.assigned) == 9
    new = {tp for tp in consumer.assigned if tp.partition > 0}
    assert set(consumer.started) == new  # every topic's new partitions, readings too, from the start
    assert all(tp.partition == 0 for tp in consumer.positions)  # partition 0 was not sought again


def test_a_run_forgets_the_alerts_recorded_before_the_retention(monkeypatch) -> None:
    import time

    clock = [time.time() + 3600.0]
    settings = Settings.model_validate({"retrain": {"alert_retention_s": 60.0}})
    retrainer, store, _ = _retrainer(clock, settings)
    for n, opened in enumerate((100.0, 500.0)):
        event = {"alert_id": f"a{n}", "asset_id": "p1", "state": "open", "opened_at": opened, "ts": opened}
        store.add_alert(event | {"score": 0.9, "values": {"x": 1.0}})
    monkeypatch.setattr(retrainer, "_run", lambda *args: None)  # no training: the snapshot is the point
    retrainer.start_run("on_demand").result(timeout=10)
    assert [store.has_alert("a0"), store.has_alert("a1")] == [False, True]  # the asset's newest stays


class _SlowProducer(_Producer):
    """A broker that does not acknowledge in time: kafka-python's flush raises, the sends stay pending."""

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        return FutureProduceResult(TopicPartition(topic, 0))

    def flush(self, timeout: float | None = None) -> None:
        raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")


def test_a_flush_that_times_out_leaves_the_label_to_be_read_again() -> None:
    # Before, the timeout went up through the loop and the retrainer exited: a slow broker made it
    # crash-loop.
    retrainer, _, registry = _retrainer([1e9])
    consumer = _Consumer()
    labels, readings = TopicPartition("operator-labels", 0), TopicPartition("sensor-readings", 0)
    consumer.batch = {
        labels: [_record(labels.topic, 7, b"{broken")],
        readings: [_record(readings.topic, 3, b"{}")],
    }
    retrainer._poll(consumer, _SlowProducer())  # type: ignore[arg-type]
    assert consumer.commits == [{("sensor-readings", 0): 4}] and consumer.seeks == [(0, 7)]
    assert registry.get_sample_value("dhag_labels_dlq_total", {"reason": "not_json"}) == 0
