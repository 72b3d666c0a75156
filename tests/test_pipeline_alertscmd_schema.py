"""``dhag-pipeline alerts`` and ``label`` read alert events of schema 1 only; events a later release wrote
in another schema are left out, and the commands say so on stderr, naming the schema and how many: before,
a console older than its daemons listed "no alerts" as if the plant were quiet."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.config import Settings


def _event(alert_id: str, schema: int) -> SimpleNamespace:
    event = {"schema": schema, "alert_id": alert_id, "asset_id": "pump-07", "state": "open",
             "opened_at": 1.8e9, "ts": 1.8e9, "score": 0.9, "model_version": "v9"}  # fmt: skip
    return SimpleNamespace(
        topic="anomaly-alerts", partition=0, offset=0, value=orjson.dumps(event), timestamp=1000
    )


def _topics(monkeypatch: pytest.MonkeyPatch, events: list[SimpleNamespace]) -> None:
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda b, topic, *_: events if topic == "anomaly-alerts" else []
    )


def _alerts(monkeypatch: pytest.MonkeyPatch, events: list[SimpleNamespace]) -> tuple[str, str]:
    _topics(monkeypatch, events)
    args = argparse.Namespace(open=False, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_events_of_a_later_schema_are_said_to_be_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = _alerts(monkeypatch, [_event("a1", 2), _event("a2", 2), _event("a3", 1)])
    assert out.splitlines()[1].split()[0] == "a3"
    assert "2 alert events of anomaly-alerts" in err and "schema 2" in err and "later release" in err
    out, err = _alerts(monkeypatch, [_event("a1", 2)])
    assert out == "no alerts\n" and "1 alert event of anomaly-alerts" in err


def test_events_of_schema_1_say_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    _, err = _alerts(monkeypatch, [_event("a3", 1)])
    assert err == ""


def test_label_of_an_alert_of_a_later_schema_says_why_it_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    _topics(monkeypatch, [_event("a1", 2)])
    args = argparse.Namespace(
        alert_id="a1",
        anomaly=True,
        normal=False,
        operator="kim",
        note=None,
        unchecked=False,
        bootstrap="k:9092",
    )
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 2
    assert "unknown alert 'a1'" in err.getvalue() and "schema 2" in err.getvalue()
