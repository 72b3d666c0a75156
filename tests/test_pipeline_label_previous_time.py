"""``label`` of an alert labelled before says when that answer was given: a label by id's ``ts``, a label
by reading's ``labelled_at``; a label by reading without one (its ``ts`` is the reading's) is said without
a time rather than with the reading's (no broker needed)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import orjson
import pytest
from labels_support import LabelProducer, open_alert

from pipeline import alertscmd
from pipeline.config import Settings

T = 1.8e9  # 2027-01-15T08:00:00Z, when the alert opened


def _label(monkeypatch: pytest.MonkeyPatch, earlier: dict) -> str:
    alert = SimpleNamespace(
        topic="anomaly-alerts", partition=0, offset=0, value=orjson.dumps(open_alert("a1", T, {"x": 1.0})),
        timestamp=int(T * 1000),
    )  # fmt: skip
    label = SimpleNamespace(
        topic="operator-labels", partition=0, offset=0, value=orjson.dumps({"schema": 1} | earlier),
        timestamp=int((T + 3600) * 1000),
    )  # fmt: skip
    topics = {"anomaly-alerts": [alert], "operator-labels": [label]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_, **__: topics[topic])
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    args = SimpleNamespace(
        alert_id="a1", anomaly=True, normal=False, operator="lee", note=None, unchecked=False, bootstrap="k:9"
    )
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue().splitlines()[0]


def test_an_earlier_label_by_id_is_said_with_the_time_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    said = _label(monkeypatch, {"alert_id": "a1", "label": "normal", "operator": "kim", "ts": T + 1800})
    assert said.startswith("note: alert a1 was labelled normal by kim at 2027-01-15T08:30:00Z; this anomaly")


def test_an_earlier_label_by_reading_is_said_with_its_labelled_at(monkeypatch: pytest.MonkeyPatch) -> None:
    reading = {"asset_id": "p1", "ts": T, "values": {"x": 1.0}, "label": "normal", "operator": "kim"}
    said = _label(monkeypatch, reading | {"labelled_at": T + 1800})
    assert said.startswith("note: alert a1 was labelled normal by kim at 2027-01-15T08:30:00Z; this anomaly")


def test_an_earlier_label_by_reading_without_labelled_at_is_said_without_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: "... labelled normal by kim at 2027-01-15T08:00:00Z", the reading's time, when the alert
    # opened, given as the time kim answered.
    said = _label(
        monkeypatch, {"asset_id": "p1", "ts": T, "values": {"x": 1.0}, "label": "normal", "operator": "kim"}
    )
    assert said.startswith(
        "note: alert a1 was labelled normal by kim (by its reading); this anomaly label"
    ), said
