"""The retrainer on a host whose wall clock is behind (NTP stepped it back, a VM resumed with a stale
clock): readings and labels are judged against the Kafka record time as the daemon judges readings,
so a fresh label is not dead-lettered for good and the normal sample does not stop growing."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson
import pytest
from kafka import TopicPartition
from kafka.producer.future import FutureProduceResult
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

NOW = 1.8e9  # the true time: the Kafka record times and the consoles' and gateways' clocks
BEHIND = 3600.0  # this host's clock, an hour behind
CREATE_TIME = 0


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict]] = []

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        future = FutureProduceResult(TopicPartition(topic, 0))
        future.success((0, 0))
        self.sent.append((topic, value, dict(headers or [])))
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


class _Consumer:
    def __init__(self, batch: dict) -> None:
        self.batch = batch

    def poll(self, timeout_ms: int = 0) -> dict:
        batch, self.batch = self.batch, {}
        return batch

    def commit(self, offsets: dict) -> None:
        pass


def _record(topic: str, partition: int, offset: int, value: dict, stamped: float = NOW) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic,
        partition=partition,
        offset=offset,
        key=b"k",
        value=orjson.dumps(value),
        timestamp=int(stamped * 1000),
        timestamp_type=CREATE_TIME,
    )


def _poll(host: float, monkeypatch: pytest.MonkeyPatch, label_ts: float, reading_ts: float):  # noqa: ANN202
    """One poll of three readings partitions (stamped by their gateways at NOW) and a label for an alert
    the store knows, on a host whose clock reads ``host``."""
    monkeypatch.setattr(time, "time", lambda: host)
    settings = Settings.model_validate({"retrain": {"normal_sample_every": 1}})
    store, registry = LabelStore(":memory:"), CollectorRegistry()
    retrainer = Retrainer(
        settings, store, RetrainMetrics(registry), bootstrap_servers="x:1", clock=lambda: host
    )
    retrainer._current_model = lambda: None  # type: ignore[method-assign]
    store.add_alert(
        {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": NOW - 60, "ts": NOW - 60}
    )
    topics = settings.kafka.topics
    batch = {
        TopicPartition(topics.input, p): [
            _record(topics.input, p, 0, {"asset_id": f"p{p}", "ts": reading_ts, "values": {"x": 1.0}})
        ]
        for p in range(3)
    }
    label = {"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": label_ts}
    batch[TopicPartition(topics.labels, 0)] = [_record(topics.labels, 0, 0, label)]
    producer = _Producer()
    retrainer._poll(_Consumer(batch), producer)  # type: ignore[arg-type]
    return store, producer


def test_a_fresh_label_and_fresh_readings_are_kept_by_a_retrainer_whose_clock_is_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the label was dead-lettered as bad_value ("ts lies 3600 s in the future"), for good, and
    # no reading joined the normal sample until the host's clock was put right.
    store, producer = _poll(NOW - BEHIND, monkeypatch, label_ts=NOW, reading_ts=NOW)
    assert producer.sent == []
    assert [(r.alert_id, r.y) for r in store.latest_labels()] == [("a1", 1)]
    assert store.reading_count() == 3


def test_a_label_and_readings_ahead_of_the_kafka_record_time_too_are_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ahead = NOW + 86_400.0  # a console and gateways a day ahead of the broker and of this host
    store, producer = _poll(NOW - BEHIND, monkeypatch, label_ts=ahead, reading_ts=ahead)
    [(topic, _, headers)] = producer.sent
    assert (topic, headers["dlq.reason"]) == ("operator-labels.dlq", b"bad_value")
    assert b"future" in headers["dlq.detail"]
    assert store.latest_labels() == [] and store.reading_count() == 0


def test_with_the_host_clock_right_labels_and_readings_are_judged_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, producer = _poll(NOW, monkeypatch, label_ts=NOW + 200, reading_ts=NOW + 200)
    assert producer.sent == [] and store.reading_count() == 3
    store, producer = _poll(NOW, monkeypatch, label_ts=NOW + 400, reading_ts=NOW + 400)
    assert len(producer.sent) == 1 and store.reading_count() == 0
