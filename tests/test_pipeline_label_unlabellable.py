"""An alert whose events the retrainer refuses each (an asset id or a model version that is no id of the
alerts topic, a score that is no number) can be listed but not labelled: the retrainer keeps no such
alert, so a label of it waits for an alert that never comes and is dead-lettered. ``alerts`` marks it
not labellable, saying why, and ``label`` refuses it (exit 2) rather than write a label that is lost."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from labels_support import LabelProducer
from prometheus_client import CollectorRegistry

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

_AT = 1.8e9
_EVENT = {"schema": 1, "alert_id": "a1", "asset_id": "pump-01", "state": "open", "opened_at": _AT, "ts": _AT,
          "score": 0.9, "threshold": 0.5, "model_version": "v1"}  # fmt: skip
_BROKEN = [
    ({"asset_id": 42}, "asset_id", "asset_id must be a printable string of 1 to 256 characters, got 42"),
    ({"asset_id": "pump\n01"}, "asset_id", "asset_id must be a printable string of 1 to 256 characters"),
    ({"model_version": ""}, "model_version", "model_version must be a printable string of 1 to 256"),
    ({"model_version": 3}, "model_version", "model_version must be a printable string of 1 to 256"),
    ({"score": "0.9"}, "score", "score must be a number, got str"),
]
_LABEL = orjson.dumps({"alert_id": "a1", "label": "anomaly", "operator": "kim", "ts": _AT})


def _record(value: bytes, offset: int, topic: str = "anomaly-alerts") -> SimpleNamespace:
    return SimpleNamespace(value=value, topic=topic, partition=0, offset=offset, key=b"a1",
                           timestamp=int(_AT * 1000) + offset)  # fmt: skip


def _topics(monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]], labels: list[bytes]) -> None:
    held = [_record(orjson.dumps(e), i) for i, e in enumerate(events)]
    given = [_record(v, i, "operator-labels") for i, v in enumerate(labels)]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: held if "alerts" in topic else given)
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *_: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    LabelProducer.sent.clear()


def _alerts(*options: str) -> tuple[str, str]:
    parser = argparse.ArgumentParser()
    alertscmd.add_alerts_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    assert (
        alertscmd.run_alerts(Settings(), parser.parse_args(["--bootstrap", "k:9092", *options]), out, err)
        == 0
    )
    return out.getvalue(), err.getvalue()


def _label() -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    return alertscmd.run_label(Settings(), args, out, err), out.getvalue(), err.getvalue()


def _retrainer_joins(tmp_path: Path, events: list[dict[str, Any]]) -> bool:
    """Whether the retrainer, given these alert events then a label of a1, joins the label to its alert."""
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}, "retrain": {"on_drift": False}})
    retrainer = Retrainer(settings, LabelStore(":memory:"), RetrainMetrics(CollectorRegistry()),
                          bootstrap_servers="x:1")  # fmt: skip
    retrainer.clock = lambda: _AT + 60
    retrainer._alerts([_record(orjson.dumps(e), i) for i, e in enumerate(events)])
    retrainer._labels([_record(_LABEL, 0, "operator-labels")], producer=None)
    return [r.alert_id for r in retrainer.store.latest_labels()] == ["a1"]


@pytest.mark.parametrize(("broken", "field", "why"), _BROKEN)
def test_an_alert_the_retrainer_keeps_no_event_of_is_marked_and_label_refuses_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broken: dict[str, Any], field: str, why: str
) -> None:
    event = _EVENT | broken
    assert not _retrainer_joins(tmp_path, [event])  # its label waits, then goes to the labels DLQ
    _topics(monkeypatch, [event], [_LABEL])  # a label written before (--unchecked, another tool)
    out, err = _alerts()
    header, row = out.splitlines()
    # Before: listed as any other (its earlier label shown as counting), and labelled with exit 0.
    assert row[header.index("LABEL") :] == f"not labellable: bad {field}"
    assert err.startswith("1 episode listed cannot be labelled (not labellable in LABEL): the retrainer ")
    assert f"(a1: {why}" in err and "would dead-letter a label of it" in err, err
    listed = json.loads(_alerts("--json")[0])
    assert listed["not_labellable"].startswith(why) and listed["label"] is None and listed["labels"] == []
    code, said, err = _label()
    assert (code, said, LabelProducer.sent) == (2, "", []), err
    assert err.startswith("alert 'a1' cannot be labelled: the retrainer refuses its events on anomaly-alerts")
    assert why in err and err.endswith("; no label was written\n"), err


def test_an_alert_the_retrainer_keeps_one_event_of_is_labelled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Its open event is refused, its resolved one kept: the retrainer knows the alert, and its label joins.
    events = [_EVENT | {"model_version": ""}, _EVENT | {"state": "resolved", "ts": _AT + 600}]
    assert _retrainer_joins(tmp_path, events)
    _topics(monkeypatch, events, [])
    out, err = _alerts()
    assert "not labellable" not in out + err
    assert json.loads(_alerts("--json")[0])["not_labellable"] is None
    code, said, err = _label()
    assert code == 0 and len(LabelProducer.sent) == 1, err
    assert said.startswith("labelled alert a1 (pump-01, opened ")


def test_an_alert_of_an_asset_outside_the_records_pattern_is_labelled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # records.asset_id_pattern holds the sensor records and a label by reading: a label by alert id names
    # no asset, and the retrainer keeps such an alert (another writer's), so its label joins it.
    event = _EVENT | {"asset_id": "Line 2/Pump #7"}
    assert _retrainer_joins(tmp_path, [event])
    _topics(monkeypatch, [event], [])
    out, err = _alerts()
    assert "not labellable" not in out + err
    code, said, err = _label()
    assert code == 0 and len(LabelProducer.sent) == 1, err
