"""``dhag-pipeline alerts`` and labels given by reading (``asset_id``, ``ts``, ``values``): a label of the
reading an alert opened on is shown with that alert, as the retrainer's label store joins it, and the
label shown as the one that counts is the one it trains on (no broker needed)."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labels import Source, parse_label
from pipeline.labelstore import LabelStore

T = 1.8e9


def _record(partition: int, offset: int, fields: dict, written: float) -> SimpleNamespace:
    value = orjson.dumps({"schema": 1, "operator": "kim"} | fields)
    topic = "operator-labels"
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, value=value, timestamp=int(written * 1000)
    )


def _alert(alert_id: str, opened_at: float, asset_id: str = "p1") -> dict:
    return {"alert_id": alert_id, "asset_id": asset_id, "state": "open", "opened_at": opened_at,
            "ts": opened_at, "score": 0.9, "values": {"x": 1.0, "y": 2.0}}  # fmt: skip


def _shown_and_trained(monkeypatch, alerts: list[dict], labels: list[SimpleNamespace]):  # noqa: ANN001, ANN202
    events = [
        SimpleNamespace(
            topic="anomaly-alerts", partition=0, offset=i, value=orjson.dumps(e), timestamp=int(T * 1000)
        )
        for i, e in enumerate(alerts)
    ]
    topics = {"anomaly-alerts": events, "operator-labels": labels}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    episodes = alertscmd.read_episodes(Settings(), "x:1")
    store = LabelStore(":memory:")
    for event in alerts:
        store.add_alert(event)
    for record in labels:
        place = Source.of(record.topic, record.partition, record.offset, record.value)
        label = parse_label(record.value, now=record.timestamp / 1000)
        store.add_label(label, place, received_at=record.timestamp / 1000)
    return episodes, store


def test_a_label_by_reading_is_shown_with_the_alert_that_opened_on_it(monkeypatch) -> None:  # noqa: ANN001
    # The store joined it to a1 and trained on it; the command showed a1 unlabelled ("-").
    reading = {"asset_id": "p1", "ts": T, "values": {"x": 1.0}, "label": "normal", "labelled_at": T + 60.0}
    labels = [_record(1, 0, reading, T + 60.0)]
    episodes, store = _shown_and_trained(monkeypatch, [_alert("a1", T)], labels)
    [trained] = store.latest_labels()
    assert trained.alert_id == "a1"
    assert episodes["a1"].label is not None and episodes["a1"].label["label"] == "normal"
    # The same instant rendered a little apart (within the store's tolerance) is the same reading; a
    # reading a second later, or another asset's, is not the alert's.
    near = _record(1, 0, reading | {"ts": T + 0.0004}, T + 60.0)
    later = _record(1, 1, reading | {"ts": T + 1.0, "label": "anomaly"}, T + 70.0)
    other = _record(2, 0, reading | {"asset_id": "p2", "label": "anomaly"}, T + 80.0)
    episodes, store = _shown_and_trained(monkeypatch, [_alert("a1", T)], [near, later, other])
    joined = [r for r in store.latest_labels() if r.alert_id == "a1"]
    assert [lab["label"] for lab in episodes["a1"].labels] == ["normal"] and len(joined) == 1


def test_the_label_shown_with_an_alert_labelled_both_ways_is_the_one_the_store_trains_on(
    monkeypatch,  # noqa: ANN001
) -> None:
    # kim confirmed by alert id; lee rejected by reading later, from a console that stamps no
    # labelled_at (the store ranks it by when it came); then kim's confirmation again by reading: a
    # repeat of kim's answer only if it repeats the one that counts (it does not: lee's came between).
    by_alert = _record(0, 0, {"alert_id": "a1", "label": "anomaly", "ts": T + 30.0}, T + 30.0)
    lee = {"asset_id": "p1", "ts": T, "values": {"x": 1.0}, "label": "normal", "operator": "lee"}
    by_reading = _record(1, 0, lee, T + 90.0)
    again = _record(1, 1, lee | {"operator": "kim", "label": "anomaly", "labelled_at": T + 120.0}, T + 120.0)
    twice = _record(1, 2, lee | {"operator": "kim", "label": "anomaly", "labelled_at": T + 120.0}, T + 130.0)
    for labels, expected in (
        ([by_alert, by_reading], ["kim", "lee"]),
        ([by_alert, by_reading, again, twice], ["kim", "lee", "kim"]),
    ):
        episodes, store = _shown_and_trained(monkeypatch, [_alert("a1", T)], labels)
        [trained] = store.latest_labels()
        shown = episodes["a1"].labels
        assert [lab["operator"] for lab in shown] == [h["operator"] for h in store.history("a1")] == expected
        assert (shown[-1]["operator"], shown[-1]["label"]) == (
            trained.operator,
            "anomaly" if trained.y else "normal",
        )


def test_a_reading_label_joins_the_earliest_alert_opened_on_it(monkeypatch) -> None:  # noqa: ANN001
    reading = {"asset_id": "p1", "ts": T + 0.001, "values": {"x": 1.0}, "label": "anomaly", "labelled_at": T}
    alerts = [_alert("a2", T + 0.0012), _alert("a1", T), _alert("a3", T + 0.0012, asset_id="p2")]
    episodes, store = _shown_and_trained(monkeypatch, alerts, [_record(1, 0, reading, T + 5.0)])
    [trained] = store.latest_labels()
    assert trained.alert_id == "a1"
    assert [e.alert_id for e in episodes.values() if e.labels] == ["a1"]
