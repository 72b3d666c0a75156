"""``dhag-pipeline alerts`` when the alerts topic no longer holds an episode's open event (its retention
deleted it) but still holds its resolved event: the resolved event's score is the score that ended the
episode, under the threshold, so the opening score is unknown and shown as such, never as that one."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.config import Settings

T = 1.8e9


def _event(alert_id: str, state: str, score: float, offset: int) -> SimpleNamespace:
    event = {"alert_id": alert_id, "asset_id": "pump-07", "state": state, "opened_at": T, "ts": T + offset,
             "score": score, "threshold": 0.5, "model_version": "v1",
             "top_sensors": [{"sensor": "flow_m3h"}]}  # fmt: skip
    raw = orjson.dumps(event)
    return SimpleNamespace(
        topic="anomaly-alerts", partition=0, offset=offset, value=raw, timestamp=int(T * 1000)
    )


def _alerts(
    monkeypatch: pytest.MonkeyPatch, events: list[SimpleNamespace], *, as_json: bool
) -> tuple[str, str]:
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda b, topic, *_: events if topic == "anomaly-alerts" else []
    )
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def _score_column(table: str) -> dict[str, str]:
    header, *rows = table.splitlines()
    start = header.index("SCORE")
    return {row.split()[0]: row[start:].split()[0] for row in rows}


def test_an_episode_whose_open_event_aged_off_shows_no_opening_score(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [
        _event("kept", "open", 0.93, 0),
        _event("kept", "resolved", 0.12, 1),
        _event("lost", "resolved", 0.08, 2),
    ]
    table, err = _alerts(monkeypatch, events, as_json=False)
    assert _score_column(table) == {"kept": "0.930", "lost": "-"}
    assert "0.080" not in table
    assert "1 episode" in err and "open event" in err and "retention" in err


def test_json_gives_no_score_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = _alerts(monkeypatch, [_event("lost", "resolved", 0.08, 0)], as_json=True)
    (episode,) = map(json.loads, out.splitlines())
    assert episode["score"] is None and episode["state"] == "resolved"
    assert episode["top_sensors"] == ["flow_m3h"]


def test_an_open_event_read_after_the_resolved_one_gives_the_opening_score(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two partitions (the asset moved between them): the open event may be read after its resolution.
    out, err = _alerts(
        monkeypatch, [_event("a", "resolved", 0.1, 1), _event("a", "open", 0.88, 0)], as_json=True
    )
    (episode,) = map(json.loads, out.splitlines())
    assert (episode["score"], episode["state"], episode["threshold"]) == (0.88, "resolved", 0.5)
    assert err == ""


def _column(table: str, name: str) -> dict[str, str]:
    header, *rows = table.splitlines()
    start = header.index(name)
    return {row.split()[0]: row[start:].split()[0] for row in rows}


def test_nor_the_model_of_the_resolution_as_the_one_that_opened_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # A model swapped in while the episode was open resolved it: its version is on the resolved event.
    swapped = _event("lost", "resolved", 0.08, 0)
    swapped.value = orjson.dumps(orjson.loads(swapped.value) | {"model_version": "v2"})
    table, err = _alerts(monkeypatch, [swapped], as_json=False)
    assert _column(table, "MODEL") == {"lost": "-"} and "v2" not in table
    assert "MODEL" in err
    out, _ = _alerts(monkeypatch, [swapped], as_json=True)
    assert json.loads(out)["model_version"] is None
    # Read after it, the open event tells the model.
    out, _ = _alerts(monkeypatch, [swapped, _event("lost", "open", 0.9, 1)], as_json=True)
    assert json.loads(out)["model_version"] == "v1"


def test_an_event_without_a_model_shows_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = _event("a", "open", 0.9, 0)
    bare.value = orjson.dumps({k: v for k, v in orjson.loads(bare.value).items() if k != "model_version"})
    table, _ = _alerts(monkeypatch, [bare], as_json=False)
    assert _column(table, "MODEL") == {"a": "-"}
