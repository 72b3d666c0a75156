"""``dhag-pipeline alerts`` says how anomalous an episode was: its opening score beside the threshold
of the model that scored it (thresholds differ between versions: 0.52 is barely over one, far over
another), in the table and in ``--json``."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.config import Settings


def _alerts(monkeypatch: pytest.MonkeyPatch, *, as_json: bool) -> str:
    events = [
        {"alert_id": "a1", "asset_id": "pump-01", "state": "open", "opened_at": 1.8e9, "ts": 1.8e9,
         "score": 0.522, "threshold": 0.5096, "model_version": "v1"},
        {"alert_id": "a2", "asset_id": "fan-02", "state": "open", "opened_at": 1.8e9 + 1, "ts": 1.8e9 + 1,
         "score": 0.522, "threshold": 0.1, "model_version": "v2"},
        {"alert_id": "a3", "asset_id": "fan-03", "state": "open", "opened_at": 1.8e9 + 2, "ts": 1.8e9 + 2,
         "score": 0.9, "model_version": "v0"},  # an event that does not say its threshold
    ]  # fmt: skip
    held = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(e), timestamp=1000) for e in events]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda b, topic, *_: held.get(topic, []))
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue()


def test_the_table_shows_each_score_beside_its_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    header, *rows = _alerts(monkeypatch, as_json=False).splitlines()
    assert "THRESHOLD" in header.split()
    start = header.index("THRESHOLD")
    shown = {row.split()[0]: row[start:].split()[0] for row in rows}
    assert shown == {"a1": "0.510", "a2": "0.100", "a3": "-"}


def test_json_gives_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {e["alert_id"]: e for e in map(json.loads, _alerts(monkeypatch, as_json=True).splitlines())}
    assert (listed["a1"]["threshold"], listed["a2"]["threshold"], listed["a3"]["threshold"]) == (
        0.5096,
        0.1,
        None,
    )
