"""A label by reading for the reading an alert the store forgot (retrain.alert_retention_s) opened on,
or by that alert's id, joins the labels that alert left behind: the newest answer about that reading
counts, once (before, one by reading was stored as another reading's, and both counted: contradictory
training data for one reading; one by id was dead-lettered as unknown_alert)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from labels_support import open_alert
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labels import Label, parse_label
from pipeline.labelstore import LabelStore, Source, Taken
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

READING = {"asset_id": "p1", "ts": 1000.0, "values": {"x": 1.0}}


def _by_reading(**fields: object) -> Label:
    return parse_label(orjson.dumps(READING | {"label": "normal", "operator": "lee"} | fields))


def _forgotten() -> LabelStore:
    """A store that forgot alert a1 (opened on p1's reading at 1000.0), confirmed by kim at 1100.0."""
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0, "y": 2.0}))
    confirm = parse_label(
        orjson.dumps({"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": 1100.0})
    )
    assert store.add_label(confirm, Source("labels", 0, 0), received_at=1100.0) == Taken.NEW
    store.add_alert(open_alert("a2", 5000.0, {"x": 9.0, "y": 9.0}))
    store._db.execute("UPDATE alerts SET seen_at = 0")
    assert store.prune_alerts(seen_before=10.0, margin_s=0.0) == 1  # a1: a2 is p1's newest
    assert not store.has_alert("a1")
    return store


def test_a_label_by_reading_of_a_forgotten_alerts_reading_replaces_its_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _forgotten()
    caplog.set_level(logging.INFO, logger="pipeline.labelorder")
    changes: list[str] = []
    taken = store.add_label(_by_reading(), Source("labels", 1, 0), received_at=2000.0, changes=changes)
    assert taken == Taken.CHANGED and changes == ["normal"]
    [latest] = store.latest_labels()
    assert (latest.key, latest.operator, latest.y, latest.ts) == ("alert:a1", "lee", 0, 1000.0)
    assert latest.values == {"x": 1.0, "y": 2.0}  # the whole reading its alert held
    assert "alert a1: lee's normal replaces kim's anomaly" in caplog.text
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]


def test_the_same_reading_rendered_apart_joins_too_and_a_repeat_counts_once() -> None:
    store = _forgotten()
    again = _by_reading(label="anomaly", operator="kim", ts=1000.0004)
    assert store.add_label(again, Source("labels", 1, 0), received_at=2000.0) == Taken.REPEAT
    assert [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 1)]
    # Another reading of p1 (more than 1.5 ms off) is a reading of its own.
    store.add_label(_by_reading(ts=1000.002), Source("labels", 1, 1), received_at=2001.0)
    assert [r.key for r in store.latest_labels()] == ["alert:a1", "reading:p1@1000.002"]


def test_the_newest_answer_counts_whichever_path_it_came_by() -> None:
    # A label by reading given (labelled_at) before kim's confirmation ranks before it: kim's counts.
    store = _forgotten()
    older = _by_reading(labelled_at=1050.0)
    assert store.add_label(older, Source("labels", 1, 0), received_at=2000.0) == Taken.NEW
    assert [(r.key, r.operator, r.y) for r in store.latest_labels()] == [("alert:a1", "kim", 1)]


def _by_id(**fields: object) -> Label:
    reject = {"alert_id": "a1", "label": "normal", "operator": "lee", "ts": 1200.0}
    return parse_label(orjson.dumps(reject | fields))


def test_a_correction_by_id_of_a_forgotten_alert_joins_the_labels_it_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: KeyError, as for an alert never seen (the retrainer dead-lettered it as unknown_alert).
    store = _forgotten()
    caplog.set_level(logging.INFO, logger="pipeline.labelorder")
    assert store.knows_alert("a1") and not store.knows_alert("a9")
    changes: list[str] = []
    taken = store.add_label(_by_id(), Source("labels", 0, 1), received_at=2000.0, changes=changes)
    assert taken == Taken.CHANGED and changes == ["normal"]
    [latest] = store.latest_labels()
    assert (latest.key, latest.operator, latest.y, latest.ts) == ("alert:a1", "lee", 0, 1000.0)
    assert latest.values == {"x": 1.0, "y": 2.0}
    assert "alert a1: lee's normal replaces kim's anomaly" in caplog.text
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]
    # Sent again, it is a repeat; a label by reading of that reading joins the same labels.
    assert store.add_label(_by_id(ts=1300.0), Source("labels", 0, 2), received_at=2001.0) == Taken.REPEAT
    again = _by_reading(label="anomaly", operator="kim")
    assert store.add_label(again, Source("labels", 1, 0), received_at=2002.0) == Taken.CHANGED
    assert [(r.key, r.operator, r.y) for r in store.latest_labels()] == [("alert:a1", "kim", 1)]


def test_a_label_by_id_of_an_alert_never_seen_still_raises() -> None:
    store = _forgotten()
    with pytest.raises(KeyError):
        store.add_label(_by_id(alert_id="a9"), Source("labels", 0, 1))
    assert [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 1)]


def test_the_retrainer_takes_a_correction_by_id_of_a_forgotten_alert_at_once(tmp_path: Path) -> None:
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    registry, store = CollectorRegistry(), _forgotten()
    retrainer = Retrainer(settings, store, RetrainMetrics(registry), bootstrap_servers="unused:9092")
    retrainer.clock = lambda: 2000.0
    label = {"alert_id": "a1", "label": "normal", "operator": "lee", "ts": 1200.0}
    message = SimpleNamespace(topic="labels", partition=0, offset=1, key=b"a1", value=orjson.dumps(label))
    retrainer._labels([message], producer=None)
    assert store.pending_count() == 0
    assert registry.get_sample_value("dhag_labels_changed_total", {"label": "normal"}) == 1
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "normal"}) == 1
    assert [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 0)]


def test_the_retrainer_counts_the_change_by_reading_of_a_forgotten_alert(tmp_path: Path) -> None:
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    registry, store = CollectorRegistry(), _forgotten()
    retrainer = Retrainer(settings, store, RetrainMetrics(registry), bootstrap_servers="unused:9092")
    retrainer.clock = lambda: 2000.0
    label = READING | {"label": "normal", "operator": "lee"}
    message = SimpleNamespace(topic="labels", partition=1, offset=0, key=b"p1", value=orjson.dumps(label))
    retrainer._labels([message], producer=None)
    assert registry.get_sample_value("dhag_labels_changed_total", {"label": "normal"}) == 1
    assert [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 0)]


def _forgotten_unlabelled(store: LabelStore) -> LabelStore:
    """``store`` once it forgot alert a1 (opened on p1's reading at 1000.0) before any label of it came."""
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0, "y": 2.0}))
    store.add_alert(open_alert("a2", 5000.0, {"x": 9.0, "y": 9.0}))
    store._db.execute("UPDATE alerts SET seen_at = 0")
    assert store.prune_alerts(seen_before=10.0, margin_s=0.0) == 1
    return store


def test_a_label_by_id_of_an_alert_forgotten_unlabelled_is_dead_lettered_saying_so(tmp_path: Path) -> None:
    # Before: "alert 'a1' not seen within 600 s", as for a mistyped id: nothing said it had been seen.
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    store = _forgotten_unlabelled(LabelStore(":memory:"))
    retrainer = Retrainer(
        settings, store, RetrainMetrics(CollectorRegistry()), bootstrap_servers="unused:9092"
    )
    retrainer.clock = retrainer.monotonic = lambda: 2000.0
    sent: list[tuple[str, str]] = []
    retrainer._dead_letters = SimpleNamespace(
        send=lambda _p, _k, _r, reason, detail, *_a, **_k2: sent.append((reason, detail))
    )
    for offset, alert_id in enumerate(("a1", "a9")):
        label = {"alert_id": alert_id, "label": "normal", "operator": "lee", "ts": 1200.0}
        message = SimpleNamespace(
            topic="labels", partition=0, offset=offset, key=b"k", value=orjson.dumps(label)
        )
        retrainer._labels([message], producer=None)
    retrainer._retry_pending(producer=None)  # watched from now
    retrainer.clock = retrainer.monotonic = lambda: 1e6  # label_retry_s later
    retrainer._retry_pending(producer=None)
    [(reason, forgotten), (_, never)] = sent
    assert reason == "unknown_alert"
    assert "forgotten" in forgotten and "retrain.alert_retention_s" in forgotten
    assert "asset_id 'p1'" in forgotten and "ts 1000.0" in forgotten  # how to send it by reading
    assert never == "alert 'a9' not seen within 600 s"


def test_a_label_by_reading_of_an_alert_forgotten_unlabelled_keeps_its_id_for_a_label_by_id() -> None:
    store = _forgotten_unlabelled(LabelStore(":memory:"))
    assert not store.knows_alert("a1")
    kim = _by_reading(label="anomaly", operator="kim")
    assert store.add_label(kim, Source("labels", 1, 0), received_at=2000.0) == Taken.NEW
    assert [r.key for r in store.latest_labels()] == ["alert:a1"]
    assert store.knows_alert("a1")
    changes: list[str] = []
    assert store.add_label(_by_id(ts=3000.0), Source("labels", 0, 0), changes=changes) == Taken.CHANGED
    assert changes == ["normal"] and [(r.key, r.y) for r in store.latest_labels()] == [("alert:a1", 0)]
