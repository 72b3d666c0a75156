"""Labels read again (their poll's dead letters not acknowledged, a restart before the label store held
their position) are taken as they were the first time."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.producer.future import FutureProduceResult
from labels_support import open_alert
from test_pipeline_retrain_deadletters import _Consumer, _retrainer

ALERTS = TopicPartition("anomaly-alerts", 0)
P0, P1 = TopicPartition("operator-labels", 0), TopicPartition("operator-labels", 1)
T = 1e9


class _Producer:
    """Dead letters are not acknowledged (a timeout) while ``away``."""

    def __init__(self) -> None:
        self.away, self.sent = True, []

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        future = FutureProduceResult(TopicPartition(topic, 0))
        if self.away:
            future.failure(KafkaTimeoutError("Batch for operator-labels.dlq-0 expired"))
        else:
            future.success((0, 0))
            self.sent.append(value)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


class _Assigned(_Consumer):
    def assignment(self) -> set[TopicPartition]:
        return {ALERTS, P0, P1}


def _rec(tp: TopicPartition, offset: int, value: object) -> SimpleNamespace:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"x", value=raw)


def test_a_label_waiting_when_read_again_ranks_as_when_it_first_came() -> None:
    # Kim's anomaly of alert x (given at T-100) waited for its alert beside a broken label that could
    # not be dead-lettered, so its partition was read again, twice. Meanwhile a label of alert y on its
    # partition was stored, given at T-10, and Lee said "normal" about x's reading at T-50 by reading.
    # Before, Kim's label read again as x came was stored as received then, after y's in its partition,
    # so it ranked no earlier than T-10 and its answer, the older, counted over Lee's.
    clock = [T]
    retrainer, store, _ = _retrainer(clock)
    consumer, producer = _Assigned(), _Producer()
    x, y = open_alert("x", T - 200, {"v": 1.0}), open_alert("y", T - 150, {"v": 2.0})
    kim = {"alert_id": "x", "label": "anomaly", "operator": "kim", "ts": T - 100}
    ann = {"alert_id": "y", "label": "anomaly", "operator": "ann", "ts": T - 10}
    lee = {"asset_id": "p1", "ts": T - 200, "values": {"v": 1.0}, "label": "normal", "operator": "lee"}
    consumer.batch = {P0: [_rec(P0, 5, kim), _rec(P0, 6, b"{broken")]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    clock[0] += 60
    consumer.batch = {
        ALERTS: [_rec(ALERTS, 0, y)],
        P0: [_rec(P0, 5, kim), _rec(P0, 6, b"{broken"), _rec(P0, 7, ann)],
        P1: [_rec(P1, 0, lee | {"labelled_at": T - 50})],
    }
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 1 and store.label_count() == 2
    clock[0] += 60
    producer.away = False
    consumer.batch = {
        ALERTS: [_rec(ALERTS, 1, x)],
        P0: [_rec(P0, 5, kim), _rec(P0, 6, b"{broken"), _rec(P0, 7, ann)],
    }
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert store.pending_count() == 0 and producer.sent == [b"{broken"]
    assert [h["received_at"] for h in store.history("x") if h["operator"] == "kim"] == [T]
    assert {(r.alert_id, r.operator) for r in store.latest_labels()} == {("x", "lee"), ("y", "ann")}
