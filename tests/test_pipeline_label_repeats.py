"""The same label sent twice (a command run again after a timeout, a console that submits twice, a
producer retry) counts once; a changed answer replaces the earlier one (no broker needed)."""

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


def _alert(alert_id: str, opened_at: float) -> dict:
    return open_alert(alert_id, opened_at, {"x": 1.0, "y": 2.0})


def _label(**fields: object) -> Label:
    return parse_label(orjson.dumps({"alert_id": "a1", "operator": "kim", "ts": 100.0} | fields))


def _store() -> LabelStore:
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", 1000.0))
    return store


def test_the_same_label_at_two_positions_counts_once() -> None:
    # A producer retry, or a console's double submit: the same message at two offsets.
    store = _store()
    assert store.add_label(_label(label="anomaly"), Source("labels", 0, 0))
    assert store.add_label(_label(label="anomaly"), Source("labels", 0, 1))
    assert [(h["label"], h["operator"]) for h in store.history("a1")] == [("anomaly", "kim")]
    assert store.label_count() == 1 and store.labels_since(0) == 1
    assert len(store.latest_labels()) == 1
    assert store.counts()["labels"] == 1 and store.counts()["repeated_labels"] == 1


def test_a_command_run_again_after_a_timeout_counts_once() -> None:
    # `dhag-pipeline label` timed out while its producer still delivered; the operator ran it again, 40 s
    # later: the same answer with another time.
    store = _store()
    store.add_label(_label(label="normal", ts=100.0), Source("labels", 0, 0))
    store.add_label(_label(label="normal", ts=140.0, note="again"), Source("labels", 0, 1))
    assert [(h["label"], h["given_at"]) for h in store.history("a1")] == [("normal", 100.0)]
    assert store.labels_since(0) == 1
    # A replay of either position adds nothing more.
    assert not store.add_label(_label(label="normal", ts=140.0, note="again"), Source("labels", 0, 1))
    assert store.label_count() == 1


def test_a_retry_delivered_after_another_operators_correction_does_not_undo_it() -> None:
    # kim's confirmation, lee's rejection, then a copy of kim's message (a producer retry, or a console's
    # second submit, delivered late): it ranked last in its partition and kim's confirmation counted.
    store = _store()
    store.add_label(_label(label="anomaly", operator="kim", ts=100.0), Source("labels", 0, 0))
    store.add_label(_label(label="normal", operator="lee", ts=200.0), Source("labels", 0, 1))
    store.add_label(_label(label="anomaly", operator="kim", ts=100.0), Source("labels", 0, 2))
    [latest] = store.latest_labels()
    assert (latest.operator, latest.y) == ("lee", 0)
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]
    # The same with the console's own id on the label, the second submit stamped with a later time.
    again = _store()
    again.add_label(_label(label="anomaly", ts=100.0, label_id="c-7f3a"), Source("labels", 0, 0))
    again.add_label(_label(label="normal", operator="lee", ts=200.0), Source("labels", 0, 1))
    again.add_label(_label(label="anomaly", ts=230.0, label_id="c-7f3a"), Source("labels", 0, 2))
    assert [(r.operator, r.y) for r in again.latest_labels()] == [("lee", 0)]


def test_an_operator_who_answers_again_after_a_change_is_heard() -> None:
    # Not a repeat: another answer came between, and kim's new one (its own time) replaces it.
    store = _store()
    store.add_label(_label(label="anomaly", operator="kim", ts=100.0), Source("labels", 0, 0))
    store.add_label(_label(label="normal", operator="lee", ts=200.0), Source("labels", 0, 1))
    store.add_label(_label(label="anomaly", operator="kim", ts=300.0), Source("labels", 0, 2))
    assert [(r.operator, r.y) for r in store.latest_labels()] == [("kim", 1)]
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee", "kim"]
    assert store.label_count() == 3


def test_two_operators_giving_the_same_answer_are_two_labels() -> None:
    store = _store()
    store.add_label(_label(label="anomaly", operator="kim"), Source("labels", 0, 0))
    store.add_label(_label(label="anomaly", operator="lee", ts=150.0), Source("labels", 0, 1))
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]
    assert [r.operator for r in store.latest_labels()] == ["lee"]


def test_a_reading_labelled_twice_counts_once() -> None:
    store = LabelStore(":memory:")
    reading = {"alert_id": None, "asset_id": "p2", "ts": 500.0, "values": {"x": 3.0}, "label": "anomaly"}
    store.add_label(_label(**reading), Source("labels", 1, 0), received_at=600.0)
    store.add_label(_label(**reading), Source("labels", 1, 1), received_at=650.0)
    assert store.label_count() == 1 and [r.key for r in store.latest_labels()] == ["reading:p2@500.0"]


def test_labels_of_one_reading_rendered_apart_count_once() -> None:
    # The same reading's label sent twice, its ts rendered a little apart (within the tolerance an alert
    # is matched by): two readings while no alert opened on it, both trained on and counted towards
    # retrain.min_new_labels; the alert's arrival joined both to it, and before that the copy counted twice.
    for labelled_at in (120.0, None):
        store = LabelStore(":memory:")
        reading = {"alert_id": None, "asset_id": "p1", "values": {"x": 1.0}, "label": "anomaly"}
        stamp = {} if labelled_at is None else {"labelled_at": labelled_at}
        store.add_label(_label(**reading, **stamp, ts=1000.0), Source("labels", 1, 0), received_at=1100.0)
        store.add_label(_label(**reading, **stamp, ts=1000.0004), Source("labels", 1, 1), received_at=1101.0)
        store.add_label(_label(**reading, **stamp, ts=1000.0004), Source("labels", 1, 2), received_at=1102.0)
        assert store.label_count() == 1 and store.counts()["repeated_labels"] == 2, labelled_at
        assert [r.key for r in store.latest_labels()] == ["reading:p1@1000.0"] and store.labels_since(0) == 1
        store.add_alert(_alert("a1", 1000.0))
        assert store.label_count() == 1 and store.counts()["repeated_labels"] == 2
        assert [(h["operator"], h["repeats"]) for h in store.history("a1")] == [("kim", 2)]
        assert [(r.alert_id, r.y) for r in store.latest_labels()] == [("a1", 1)]
        assert store.labels_since(0) == 1


def test_different_answers_of_one_reading_rendered_apart_are_one_readings() -> None:
    # Two readings before: the rejection and the confirmation of the same instant both trained.
    store = LabelStore(":memory:")
    reading = {"alert_id": None, "asset_id": "p1", "values": {"x": 1.0}}
    first = _label(**reading, ts=1000.0, label="anomaly")
    assert store.add_label(first, Source("labels", 1, 0), received_at=1100.0) == Taken.NEW
    later = _label(**reading, ts=1000.0004, label="normal", operator="lee")
    assert store.add_label(later, Source("labels", 1, 1), received_at=1101.0) == Taken.CHANGED
    assert [(r.operator, r.y, r.ts) for r in store.latest_labels()] == [("lee", 0, 1000.0)]
    # A reading farther off, or another asset's, is another reading.
    store.add_label(
        _label(**reading, ts=1000.002, label="anomaly"), Source("labels", 1, 2), received_at=1102.0
    )
    store.add_label(
        _label(**reading | {"asset_id": "p2"}, ts=1000.0, label="anomaly"), Source("labels", 2, 0)
    )
    assert len(store.latest_labels()) == 3 and store.label_count() == 4
    store.add_alert(_alert("a1", 1000.0))
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee"]
    assert [(r.alert_id, r.operator, r.y) for r in store.latest_labels()][0] == ("a1", "lee", 0)


def _retrainer(tmp_path: Path) -> tuple[Retrainer, CollectorRegistry]:
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    registry = CollectorRegistry()
    store = LabelStore(":memory:")
    store.add_alert(_alert("a1", 1000.0))
    retrainer = Retrainer(settings, store, RetrainMetrics(registry), bootstrap_servers="unused:9092")
    retrainer.clock = lambda: 2000.0
    return retrainer, registry


def _message(offset: int, **fields: object) -> SimpleNamespace:
    value = orjson.dumps({"alert_id": "a1", "operator": "kim", "ts": 100.0} | fields)
    return SimpleNamespace(topic="labels", partition=0, offset=offset, key=b"a1", value=value)


def test_the_retrainer_counts_a_repeated_label_once_and_counts_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    retrainer, registry = _retrainer(tmp_path)
    caplog.set_level(logging.INFO, logger="pipeline.labelorder")
    retrainer._labels([_message(0, label="anomaly"), _message(1, label="anomaly", ts=140.0)], producer=None)
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1
    retrainer._labels([_message(2, label="normal", operator="lee", ts=200.0)], producer=None)
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "normal"}) == 1
    assert registry.get_sample_value("dhag_labels_changed_total", {"label": "normal"}) == 1
    assert "alert a1: lee's normal replaces kim's anomaly (the label that counts now)" in caplog.text
    # A replay after a restart (the same positions) counts nothing again.
    retrainer._labels([_message(0, label="anomaly"), _message(1, label="anomaly", ts=140.0)], producer=None)
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1
    assert [(r.operator, r.y) for r in retrainer.store.latest_labels()] == [("lee", 0)]


def test_a_label_waiting_for_its_alert_counts_when_it_joins_and_a_repeat_of_it_once(tmp_path: Path) -> None:
    retrainer, registry = _retrainer(tmp_path)
    late = [_message(0, alert_id="a2", label="normal"), _message(1, alert_id="a2", label="normal", ts=130.0)]
    retrainer._labels(late, producer=None)
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "normal"}) == 0
    retrainer.store.add_alert(_alert("a2", 1500.0))
    retrainer._retry_pending(producer=None)
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "normal"}) == 1
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1
    assert retrainer.store.pending_count() == 0 and retrainer.store.label_count() == 1


def test_the_retrainer_counts_a_reading_labelled_twice_rendered_apart_once(tmp_path: Path) -> None:
    retrainer, registry = _retrainer(tmp_path)
    reading = {"alert_id": None, "asset_id": "p7", "values": {"x": 1.0}, "label": "anomaly"}
    retrainer._labels(
        [_message(0, **reading, ts=1000.0), _message(1, **reading, ts=1000.0004)], producer=None
    )
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1
    assert retrainer.store.labels_since(0) == 1


def test_a_label_found_a_repeat_as_it_joins_its_alert_is_counted_in_repeated(tmp_path: Path) -> None:
    # Two labels of p8's readings 2.8 ms apart (two readings while no alert opened on them), both within
    # the tolerance of the alert that opened between them: the second repeats the first as they join it.
    # It was marked a repeat, and counted nowhere in the metrics.
    retrainer, registry = _retrainer(tmp_path)
    reading = {"alert_id": None, "asset_id": "p8", "values": {"x": 1.0}, "label": "anomaly"}
    retrainer._labels(
        [_message(0, **reading, ts=1000.0), _message(1, **reading, ts=1000.0028)], producer=None
    )
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 2
    assert registry.get_sample_value("dhag_labels_repeated_total") == 0
    event = _alert("a8", 1000.0014) | {"asset_id": "p8"}
    retrainer._alerts([SimpleNamespace(topic="alerts", partition=0, offset=0, value=orjson.dumps(event))])
    assert retrainer.store.counts()["repeated_labels"] == 1
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1
    # The same event again (a resolution, a replay) joins nothing more.
    retrainer._alerts([SimpleNamespace(topic="alerts", partition=0, offset=1, value=orjson.dumps(event))])
    assert registry.get_sample_value("dhag_labels_repeated_total") == 1


def test_one_operator_name_typed_in_two_unicode_forms_is_one_operator() -> None:
    # "Zoë" from a console that composes the accent and from one that sends e + a combining diaeresis:
    # the same person, so the second is a repeat of the same answer, not another operator's.
    composed, decomposed = "Zo\u00eb", "Zoe\u0308"
    assert _label(label="anomaly", operator=decomposed).operator == composed
    store = _store()
    store.add_label(_label(label="anomaly", operator=composed), Source("labels", 0, 0))
    store.add_label(_label(label="anomaly", operator=decomposed, ts=140.0), Source("labels", 0, 1))
    assert [h["operator"] for h in store.history("a1")] == [composed]
    assert store.counts()["repeated_labels"] == 1
