"""An alert event whose times no clock can show (any client allowed to write to the alerts topic writes
it): ``alerts`` and ``label`` go on. A time that is no number (``"nan"``, ``"1e999"`` as text), which the
retrainer refuses too, leaves its event out; a number beyond the dates a clock shows (``1e20``) is shown
as that number; ``--json`` stays strict JSON (no ``NaN`` or ``Infinity``, which ``jq`` refuses)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from labels_support import LabelProducer

from pipeline import alertscmd
from pipeline.config import Settings


def _event(alert_id: str, **fields: Any) -> dict[str, Any]:
    event = {"schema": 1, "alert_id": alert_id, "asset_id": "pump-01", "state": "open", "opened_at": 6.0}
    return event | {"ts": 6.0, "score": 0.9, "threshold": 0.5, "model_version": "v1"} | fields


def _topics(monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]]) -> None:
    records = [SimpleNamespace(value=orjson.dumps(e)) for e in events]
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda _b, topic, *_, **__: records if "alert" in topic else []
    )


def _alerts(monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]], *, as_json: bool) -> str:
    _topics(monkeypatch, events)
    args = SimpleNamespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


def _strict(line: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON: {line}")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("opened", [1e20, -1e20, 1e17])
def test_an_opening_time_beyond_dates_is_shown_as_its_number(
    monkeypatch: pytest.MonkeyPatch, opened: float
) -> None:
    # Before, the table stopped with a traceback: OverflowError 'timestamp out of range for platform
    # time_t' (or OSError 'Value too large'), listing nothing for anyone.
    printed = _alerts(monkeypatch, [_event("bad", opened_at=opened), _event("good")], as_json=False)
    rows = {line.split()[0]: line.split("  open   ")[1].split("  ")[0] for line in printed.splitlines()[1:]}
    assert rows == {"bad": f"epoch {opened:g}", "good": "1970-01-01T00:00:06Z"}, printed


@pytest.mark.parametrize(
    "fields",
    [
        {"opened_at": "nan"},
        {"opened_at": "1e999"},
        {"opened_at": "-inf"},
        {"state": "resolved", "ts": "nan"},
        {"state": "resolved", "ts": 9.0, "latest_ts": "inf"},
    ],
)
def test_a_time_that_is_no_number_leaves_its_event_out(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]
) -> None:
    # Before, the text was read as a number: the table stopped with a traceback (ValueError 'Invalid
    # value NaN', OverflowError), and --json wrote NaN or Infinity, which no JSON reader takes.
    events = (
        [_event("bad"), _event("bad", **fields), _event("good")]
        if "state" in fields
        else [
            _event("bad", **fields),
            _event("good"),
        ]
    )
    lines = _alerts(monkeypatch, events, as_json=True).splitlines()
    listed = {_strict(line)["alert_id"]: _strict(line) for line in lines}
    assert "good" in listed
    if "state" in fields:  # its open event stands: the resolution that names no time is left out
        assert listed["bad"]["state"] == "open" and listed["bad"]["resolved_at"] is None
    else:
        assert "bad" not in listed
    table = _alerts(monkeypatch, events, as_json=False)
    assert "good" in table


def test_label_of_an_alert_opened_beyond_dates_says_it_was_labelled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the label was written and then `label` stopped with a traceback as it said so.
    _topics(monkeypatch, [_event("a1", opened_at=1e20)])
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    LabelProducer.sent = []
    args = SimpleNamespace(
        alert_id="a1", anomaly=True, normal=False, operator="kim", note=None, unchecked=False, bootstrap="k:9"
    )
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == 0, err.getvalue()
    assert len(LabelProducer.sent) == 1
    assert out.getvalue() == "labelled alert a1 (pump-01, opened epoch 1e+20) as anomaly by kim\n"
