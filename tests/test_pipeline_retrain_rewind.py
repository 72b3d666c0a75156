"""A poll the retrainer gives up midway (a dead letter's send raises, the label store fails) leaves the
store, its counters and its notes exactly as if the poll had not happened: the poll is read again, and
only then stored and counted, once."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import orjson
import pytest
from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from kafka.producer.future import FutureProduceResult
from labels_support import open_alert
from prometheus_client import CollectorRegistry
from test_pipeline_retrain_deadletters import _Consumer, _retrainer

from pipeline.config import Settings
from pipeline.labelstore import LabelStore, Source
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer
from pipeline.retrain.storepositions import positions

ALERTS, LABELS = TopicPartition("anomaly-alerts", 0), TopicPartition("operator-labels", 0)
READINGS = TopicPartition("sensor-readings", 0)
T = 1e9
RETRY = Settings().retrain.label_retry_s
SETTINGS = Settings.model_validate({"retrain": {"normal_sample_every": 2, "on_drift": False}})


class _Flaky:
    """A producer whose send number ``fails`` (counted from 1) raises as kafka-python's does when it
    cannot fetch the topic's metadata in time; every other send is acknowledged."""

    def __init__(self, fails: int | None = None) -> None:
        self.fails, self.calls, self.sent = fails, 0, []

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        self.calls += 1
        if self.calls == self.fails:
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        future = FutureProduceResult(TopicPartition(topic, 0))
        future.success((0, 0))
        self.sent.append((topic, value, dict(headers or [])["dlq.reason"]))
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


class _AllAssigned(_Consumer):
    def assignment(self) -> set[TopicPartition]:
        return {ALERTS, LABELS, READINGS}


def _rec(tp: TopicPartition, offset: int, value: object) -> SimpleNamespace:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"k", value=raw)


def _label(alert_id: str, label: str, operator: str, ts: float) -> dict:
    return {"alert_id": alert_id, "label": label, "operator": operator, "ts": ts}


def _batch() -> dict[TopicPartition, list[SimpleNamespace]]:
    """Alert x (with a label waiting for it) and a broken alert event; a label of x, its repeat, another
    operator's change of answer, a broken label (dead-lettered); three readings of p1."""
    return {
        ALERTS: [_rec(ALERTS, 0, open_alert("x", T - 50, {"x": 1.0})), _rec(ALERTS, 1, b"{bad")],
        LABELS: [
            _rec(LABELS, 0, _label("x", "anomaly", "kim", T - 40)),
            _rec(LABELS, 1, _label("x", "anomaly", "kim", T - 39)),
            _rec(LABELS, 2, _label("x", "normal", "lee", T - 30)),
            _rec(LABELS, 3, b"{broken"),
        ],
        READINGS: [
            _rec(READINGS, n, {"asset_id": "p1", "ts": T - 20 + n, "values": {"x": 1.0}}) for n in range(3)
        ],
    }


def _started(clock: list[float]):  # noqa: ANN202
    """A retrainer with a label waiting for alert x and one waiting for an alert never seen (due at the
    poll under test), after a first empty poll."""
    retrainer, store, registry = _retrainer(clock, SETTINGS)
    store.add_pending(
        "x",
        orjson.dumps(_label("x", "anomaly", "ann", T - 45)),
        Source("operator-labels", 1, 0),
        first_seen=T - 45 - RETRY,
    )
    raw = orjson.dumps(_label("never", "anomaly", "ann", T - 45))
    store.add_pending("never", raw, Source("operator-labels", 1, 1), first_seen=T - 44 - RETRY)
    store.commit()
    retrainer._poll(_AllAssigned(), _Flaky())  # type: ignore[arg-type]
    clock[0] += RETRY + 10
    return retrainer, store, registry


_COUNTED = (
    ("dhag_labels_received_total", {"label": "anomaly"}),
    ("dhag_labels_received_total", {"label": "normal"}),
    ("dhag_labels_changed_total", {"label": "normal"}),
    ("dhag_labels_changed_total", {"label": "anomaly"}),
    ("dhag_labels_repeated_total", {}),
    ("dhag_retrain_alert_events_refused_total", {}),
    ("dhag_labels_dlq_total", {"reason": "not_json"}),
    ("dhag_labels_dlq_total", {"reason": "unknown_alert"}),
    ("dhag_labels_pending", {}),
)


def _state(store: LabelStore, registry: CollectorRegistry) -> dict:
    db = store._db
    return {
        "alerts": db.execute("SELECT * FROM alerts ORDER BY alert_id").fetchall(),
        "labels": db.execute("SELECT * FROM labels ORDER BY id").fetchall(),
        "pending": db.execute("SELECT source, alert_id, first_seen FROM pending ORDER BY source").fetchall(),
        "readings": db.execute("SELECT asset_id, ts FROM readings ORDER BY ts").fetchall(),
        "state": db.execute("SELECT * FROM state ORDER BY key").fetchall(),
        "counted": {f"{n}{sorted(k.items())}": registry.get_sample_value(n, k) for n, k in _COUNTED},
    }


def _seen_at_blanked(state: dict) -> dict:
    return state | {"alerts": [row[:-1] for row in state["alerts"]]}  # seen_at: the host's time.time()


def _once() -> tuple[dict, list]:
    """The poll handled once, at T + 1."""
    clock = [T - RETRY - 10]
    retrainer, store, registry = _started(clock)
    clock[0] += 1
    consumer, producer = _AllAssigned(), _Flaky()
    consumer.batch = _batch()
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    return _seen_at_blanked(_state(store, registry)), producer.sent


@pytest.mark.parametrize("fails", [1, 2])  # the broken label's dead letter (in the labels), the due one's
def test_a_poll_whose_dead_letter_send_raises_is_stored_and_counted_once_when_read_again(fails: int) -> None:
    # Before, the store kept the writes of the poll given up (committed with the next), its broken alert
    # event counted twice, its dead letters sent before the failure settled again beside those of the
    # poll read again (counted twice), and the readings sampled at another phase joined those sampled
    # the first time.
    clock = [T - RETRY - 10]
    retrainer, store, registry = _started(clock)
    consumer, producer = _AllAssigned(), _Flaky(fails)
    consumer.batch = _batch()
    with pytest.raises(KafkaError):
        retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert sorted(consumer.seeks) == [(0, 0)] * 3  # each partition read again from its first record
    store.commit()  # as the loop does after every poll: nothing of the poll given up is in it
    assert store.counts()["labels"] == 0 and store.counts()["readings"] == 0 and not store.has_alert("x")
    clock[0] += 1
    consumer.batch = _batch()
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    expected, sent = _once()
    assert _seen_at_blanked(_state(store, registry)) == expected
    assert expected["counted"]["dhag_labels_repeated_total[]"] == 1  # the test shows what it claims
    assert expected["counted"]["dhag_labels_changed_total[('label', 'normal')]"] == 1
    assert expected["counted"]["dhag_retrain_alert_events_refused_total[]"] == 1
    assert len(expected["readings"]) == 2 and expected["pending"] == []
    # The broker may hold a dead letter sent before the failure twice (at least once), never fewer.
    assert producer.sent[fails - 1 :] == sent


def test_a_poll_read_again_in_parts_joins_a_waiting_label_once_its_alert_comes_again() -> None:
    clock = [T - RETRY - 10]
    retrainer, store, registry = _retrainer(clock, SETTINGS)
    store.add_pending(
        "x",
        orjson.dumps(_label("x", "anomaly", "ann", T - 45)),
        Source("operator-labels", 1, 0),
        first_seen=clock[0],
    )
    store.commit()
    consumer = _AllAssigned()
    consumer.batch = {ALERTS: _batch()[ALERTS], LABELS: [_rec(LABELS, 3, b"{broken")]}
    with pytest.raises(KafkaError):
        retrainer._poll(consumer, _Flaky(1))  # type: ignore[arg-type]
    consumer.batch = {LABELS: [_rec(LABELS, 3, b"{broken")]}  # the alerts' partition comes a poll later
    retrainer._poll(consumer, _Flaky())  # type: ignore[arg-type]
    assert store.pending_count() == 1 and store.label_count() == 0
    consumer.batch = {ALERTS: _batch()[ALERTS]}
    retrainer._poll(consumer, _Flaky())  # type: ignore[arg-type]
    assert store.pending_count() == 0 and store.label_count() == 1
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_pending") == 0


class _TooLargeThenAway(_Flaky):
    """The first dead letter is refused as too large; sending it again without its value raises."""

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        if self.calls == 0:
            self.calls += 1
            future = FutureProduceResult(TopicPartition(topic, 0))
            future.failure(MessageSizeTooLargeError("over max.message.bytes"))
            return future
        return super().send(topic, key=key, value=value, headers=headers)


def test_the_first_poll_given_up_looks_at_every_waiting_label_again() -> None:
    # A label left waiting by an earlier run whose alert the store knows joins at the first poll; that
    # poll given up (its join rolled back), the next looks again rather than leaving it label_retry_s.
    clock = [T]
    retrainer, store, registry = _retrainer(clock, SETTINGS)
    store.add_alert(open_alert("x", T - 50, {"x": 1.0}))
    raw = orjson.dumps(_label("x", "anomaly", "ann", T - 45))
    store.add_pending("x", raw, Source("operator-labels", 1, 0), first_seen=T - 5)
    store.commit()
    store.take_arrived()  # noted by an earlier run's process, not this one's
    consumer = _AllAssigned()
    consumer.batch = {LABELS: [_rec(LABELS, 3, b"{broken")]}
    with pytest.raises(KafkaError):
        retrainer._poll(consumer, _TooLargeThenAway(2))  # type: ignore[arg-type]
    assert store.pending_count() == 1 and store.label_count() == 0
    consumer.batch = {LABELS: [_rec(LABELS, 3, b"{broken")]}
    retrainer._poll(consumer, _Flaky())  # type: ignore[arg-type]
    assert store.pending_count() == 0 and store.label_count() == 1
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_dlq_too_large_total") == 0  # its poll was given up


@pytest.mark.parametrize("where", ["add_readings", "commit"])
def test_a_poll_the_label_store_fails_leaves_nothing_in_it_nor_counted(
    where: str, tmp_path, monkeypatch
) -> None:
    # Before, what the poll wrote before the failure stayed in the transaction, and the store's close as
    # the retrainer exited committed it: half a poll, its readings sampled again at the next start.
    path = tmp_path / "labels.db"
    registry = CollectorRegistry()
    store = LabelStore(path)
    retrainer = Retrainer(SETTINGS, store, RetrainMetrics(registry), bootstrap_servers="x:1", clock=lambda: T)
    retrainer._current_model = lambda: None  # type: ignore[method-assign]
    real = getattr(store, where)

    def failing(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(store, where, real)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, where, failing)
    consumer = _AllAssigned()
    consumer.batch = _batch()
    with pytest.raises(sqlite3.OperationalError):
        retrainer._poll(consumer, _Flaky())  # type: ignore[arg-type]
    store.close()  # as the retrainer's exit does
    again = LabelStore(path)
    assert again.counts() == {"alerts": 0, "labels": 0, "repeated_labels": 0, "pending": 0, "readings": 0}
    assert positions(again) == {}
    assert consumer.commits == []
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 0
    assert registry.get_sample_value("dhag_retrain_alert_events_refused_total") == 0
