"""``dhag-pipeline alerts`` and ``label`` print text they read from the alerts and labels topics (a shared
cluster's, which any client allowed to write there fills): a line break or a terminal's escape in it is
shown escaped as ``dhag info`` shows a column's name (:func:`dhag.infotext.shown_name`), so that it
neither splits a row of the table nor acts on the operator's terminal (clears the screen, retitles the
window). ``--json`` gives the text exactly as it was (JSON escapes it)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline import alertscmd
from pipeline.alertsfit import MODEL_COLUMNS, middle_clipped
from pipeline.config import Settings

CLEAR = "\x1b[2J"  # clears the screen
TITLE = "\x1b]0;owned\x07"  # retitles the window
ODD = f"pump\n01{CLEAR}{TITLE}"
SHOWN = r"'pump\n01\x1b[2J\x1b]0;owned\x07'"


def _event(**fields: Any) -> dict[str, Any]:
    event = {"state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, "score": 0.99}
    return event | {"model_version": "v1", "threshold": 0.5, "top_sensors": [{"sensor": "flow"}]} | fields


def _run(
    monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]], exit_status: int = 0, **options: Any
) -> tuple[str, str]:
    messages = [SimpleNamespace(value=orjson.dumps(e)) for e in events]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: messages if "alert" in topic else [])
    monkeypatch.setattr(alertscmd, "console_bootstrap", lambda *a: "broker:9092")
    args = {"open": False, "asset": None, "limit": 10, "json": False, "bootstrap": None, "since": None}
    out, err = io.StringIO(), io.StringIO()
    assert (
        alertscmd.run_alerts(Settings(), SimpleNamespace(**args | options), out=out, err=err) == exit_status
    )
    return out.getvalue(), err.getvalue()


def _alerts(monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]], *, as_json: bool = False) -> str:
    return _run(monkeypatch, events, json=as_json)[0]


def test_an_asset_id_with_a_terminal_escape_is_shown_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the table wrote the asset id raw: the row split in two and the terminal cleared its screen
    # and took a new window title.
    printed = _alerts(monkeypatch, [_event(asset_id=ODD)])
    assert "\x1b" not in printed and "\x07" not in printed and len(printed.splitlines()) == 2, printed
    assert f"a1        {SHOWN}  open" in printed


def test_a_model_version_with_a_terminal_escape_is_shown_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, MODEL was written raw, as the asset id was.
    printed = _alerts(monkeypatch, [_event(model_version=ODD)])
    assert "\x1b" not in printed and "\x07" not in printed and len(printed.splitlines()) == 2, printed
    # (shortened in its middle, as a long model version is, never inside an escape)
    assert f"0.500      {middle_clipped(SHOWN, MODEL_COLUMNS)}  flow" in printed


def test_json_gives_the_asset_id_and_model_version_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    # Machine-readable output keeps the data exact: JSON escapes the characters itself.
    printed = _alerts(monkeypatch, [_event(asset_id=ODD, model_version=ODD)], as_json=True)
    assert "\x1b" not in printed and len(printed.splitlines()) == 1
    episode = json.loads(printed)
    assert episode["asset_id"] == ODD and episode["model_version"] == ODD


def test_an_alert_id_with_a_terminal_escape_is_left_out_named_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, ALERT_ID was written raw from the event, as the asset id was; an id that does not print is
    # no alert the retrainer keeps (no label could join it): left out, as an episode known from its
    # resolved event alone is, and named escaped.
    for event in (_event(alert_id=ODD), _event(alert_id=ODD, state="resolved", ts=9.0)):
        printed, said = _run(monkeypatch, [event])
        assert printed == "no alerts\n", printed
        assert "\x1b" not in said and "\x07" not in said and len(said.splitlines()) == 1, said
        assert f"(partition ? offset ?: alert {SHOWN}: alert_id must be a printable string of" in said


def test_the_note_on_an_asset_listed_nothing_names_asset_ids_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # --asset that lists nothing names the asset ids that look like it, or else the first few; before, raw.
    events = [_event(alert_id="a1", asset_id="pump-01\x1b[2J"), _event(alert_id="a2", asset_id=ODD)]
    near = _run(monkeypatch, events, 2, asset="pump-01")[1]  # on no event: refused
    assert "\x1b" not in near and len(near.splitlines()) == 1, near
    assert r"did you mean 'pump-01\x1b[2J'?" in near
    others = _run(monkeypatch, events, 2, asset="fan-9")[1]
    assert "\x1b" not in others and "\x07" not in others and len(others.splitlines()) == 1, others
    assert rf"the assets with episodes there: {SHOWN}, 'pump-01\x1b[2J'" in others


def test_a_top_sensor_s_side_of_its_range_is_shown_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The event says "above" or "below"; before, whatever it said instead was written raw after the name.
    top = [{"sensor": "flow", "outside_training_range": CLEAR + "above"}, {"sensor": "head"}]
    printed = _alerts(monkeypatch, [_event(top_sensors=top)])
    assert "\x1b" not in printed and len(printed.splitlines()) == 2, printed
    assert r"flow ('\x1b[2Jabove' history),head" in printed
