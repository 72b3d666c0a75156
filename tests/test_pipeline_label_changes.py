"""A change of answer is counted and logged once, wherever the earlier answer ranks: a label that waited
for its alert while a correction of it was stored, and joins ranking before it, makes that correction a
change as if the two had been stored in order (no broker needed)."""

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

REPLACES = "alert a1: lee's normal replaces kim's anomaly (the label that counts now)"


def _label(**fields: object) -> Label:
    return parse_label(orjson.dumps({"alert_id": "a1", "operator": "kim", "ts": 100.0} | fields))


def _message(offset: int, **fields: object) -> SimpleNamespace:
    value = orjson.dumps({"alert_id": "a1", "operator": "kim", "ts": 100.0} | fields)
    return SimpleNamespace(topic="labels", partition=0, offset=offset, key=b"a1", value=value)


def _alert_message(offset: int) -> SimpleNamespace:
    value = orjson.dumps(open_alert("a1", 1000.0, {"x": 1.0}))
    return SimpleNamespace(topic="alerts", partition=0, offset=offset, key=b"p1", value=value)


def _retrainer(tmp_path: Path) -> tuple[Retrainer, CollectorRegistry]:
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    registry = CollectorRegistry()
    retrainer = Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(registry), bootstrap_servers="x:9092"
    )
    retrainer.clock = lambda: 2000.0
    return retrainer, registry


def _changed(registry: CollectorRegistry, label: str) -> float | None:
    return registry.get_sample_value("dhag_labels_changed_total", {"label": label})


def test_a_correction_stored_while_the_answer_it_corrects_waited_for_its_alert_counts_as_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # kim's confirmation came before its alert and waited; the alert and lee's rejection came in one
    # poll (alerts first, then labels, then the labels waiting): lee's was stored first, then kim's
    # joined ranking before it. Lee's rejection replaced kim's answer, but was counted nowhere.
    retrainer, registry = _retrainer(tmp_path)
    caplog.set_level(logging.INFO, logger="pipeline.labelorder")
    retrainer._labels([_message(0, label="anomaly")], producer=None)
    assert retrainer.store.pending_count() == 1
    retrainer._alerts([_alert_message(0)])
    retrainer._labels([_message(1, label="normal", operator="lee", ts=200.0)], producer=None)
    retrainer._retry_pending(producer=None)
    assert retrainer.store.pending_count() == 0
    assert [(r.operator, r.y) for r in retrainer.store.latest_labels()] == [("lee", 0)]
    assert _changed(registry, "normal") == 1 and _changed(registry, "anomaly") == 0
    assert caplog.text.count(REPLACES) == 1
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 1
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "normal"}) == 1
    # A replay of every position after a restart counts and logs nothing again.
    retrainer._labels(
        [_message(0, label="anomaly"), _message(1, label="normal", operator="lee", ts=200.0)], None
    )
    assert _changed(registry, "normal") == 1 and caplog.text.count(REPLACES) == 1


def test_the_same_answer_stored_while_another_waited_is_no_change(tmp_path: Path) -> None:
    retrainer, registry = _retrainer(tmp_path)
    retrainer._labels([_message(0, label="anomaly")], producer=None)
    retrainer._alerts([_alert_message(0)])
    retrainer._labels([_message(1, label="anomaly", operator="lee", ts=200.0)], producer=None)
    retrainer._retry_pending(producer=None)
    assert _changed(registry, "normal") == 0 and _changed(registry, "anomaly") == 0
    assert registry.get_sample_value("dhag_labels_received_total", {"label": "anomaly"}) == 2


def test_a_label_joining_between_two_like_answers_counts_both_changes_as_stored_in_order() -> None:
    # kim's and max's confirmations, and between them lee's rejection that joins late: in order, lee's
    # replaced kim's and max's replaced lee's, two changes, as three labels stored in that order make.
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    changes: list[str] = []
    kim, max_ = _label(label="anomaly"), _label(label="anomaly", operator="max", ts=300.0)
    assert store.add_label(kim, Source("labels", 0, 0), received_at=1100.0, changes=changes) == Taken.NEW
    assert store.add_label(max_, Source("labels", 0, 2), received_at=1300.0, changes=changes) == Taken.NEW
    assert changes == []
    lee = _label(label="normal", operator="lee", ts=200.0)
    assert store.add_label(lee, Source("labels", 0, 1), received_at=1200.0, changes=changes) == Taken.NEW
    assert changes == ["normal", "anomaly"]
    assert [h["operator"] for h in store.history("a1")] == ["kim", "lee", "max"]
    # The same three stored in order count the same two changes.
    again, changes = LabelStore(":memory:"), []
    again.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    for offset, label in enumerate((kim, lee, max_)):
        again.add_label(label, Source("labels", 0, offset), received_at=1100.0 + offset, changes=changes)
    assert changes == ["normal", "anomaly"]


def test_a_label_joining_between_two_different_answers_adds_no_change() -> None:
    # kim's confirmation replaced by lee's rejection (one change, counted as it came); max's rejection
    # joining between them leaves one change in the order: nothing more to count.
    store = LabelStore(":memory:")
    store.add_alert(open_alert("a1", 1000.0, {"x": 1.0}))
    changes: list[str] = []
    store.add_label(_label(label="anomaly"), Source("labels", 0, 0), received_at=1100.0, changes=changes)
    lee = _label(label="normal", operator="lee", ts=300.0)
    assert store.add_label(lee, Source("labels", 0, 2), received_at=1300.0, changes=changes) == Taken.CHANGED
    max_ = _label(label="normal", operator="max", ts=200.0)
    assert store.add_label(max_, Source("labels", 0, 1), received_at=1200.0, changes=changes) == Taken.NEW
    assert changes == ["normal"]
