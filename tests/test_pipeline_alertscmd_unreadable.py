"""An alert event whose numbers are ``NaN`` or ``Infinity`` (as Python's ``json`` writes a number that is
none: another writer than the daemon, a replay) is listed by ``alerts`` with those numbers unknown, and a
record of the alerts topic that is no alert event ``alerts`` can read is counted and named on stderr:
before, both were passed over in silence, and an operator never saw the alert."""

from __future__ import annotations

import argparse
import io
import json
from types import SimpleNamespace

import pytest

from pipeline import alertscmd
from pipeline.config import Settings

_OPEN = b'"schema": 1, "state": "open", "opened_at": 1.8e9, "ts": 1.8e9'
_RECORDS = [
    b'{"alert_id": "a1", "asset_id": "pump-01", %s, "score": NaN, "threshold": NaN}' % _OPEN,
    b'{"alert_id": "a2", "asset_id": "pump-02", %s, "score": 0.9, "threshold": Infinity}' % _OPEN,
    b'{"alert_id": "a3", "asset_id": "pump-03", %s, "score": 0.9, "threshold": 0.5}' % _OPEN,
]


def _alerts(
    monkeypatch: pytest.MonkeyPatch, values: list[bytes], *, as_json: bool = False
) -> tuple[str, str]:
    held = [
        SimpleNamespace(value=v, topic="anomaly-alerts", partition=0, offset=i, timestamp=1_800_000_000_000)
        for i, v in enumerate(values)
    ]
    monkeypatch.setattr(alertscmd, "read_topic", lambda b, topic, *_: held if "alerts" in topic else [])
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_an_alert_whose_numbers_are_nan_or_infinity_is_listed_with_them_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = _alerts(monkeypatch, _RECORDS)
    header, *rows = out.splitlines()
    start = header.index("SCORE")
    shown = {row.split()[0]: row[start:].split()[:2] for row in rows}
    # Before: a1 and a2 were not listed, and nothing was said.
    assert shown == {"a1": ["-", "-"], "a2": ["0.900", "-"], "a3": ["0.900", "0.500"]}
    assert err == ""
    out, _ = _alerts(monkeypatch, _RECORDS, as_json=True)
    listed = {e["alert_id"]: (e["score"], e["threshold"]) for e in map(json.loads, out.splitlines())}
    assert listed == {"a1": (None, None), "a2": (0.9, None), "a3": (0.9, 0.5)}


def test_records_that_are_no_alert_event_are_counted_and_named_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    odd = [
        b'{"alert_id": "a4", "asset_id": "pump-04", "schema": 1, "state": "open", "opened_at": NaN}',
        b"not json",
        b'{"asset_id": "pump-05", "state": "open", "opened_at": 1.8e9}',
        b"[1, 2]",
    ]
    out, err = _alerts(monkeypatch, [*_RECORDS, *odd])
    assert [row.split()[0] for row in out.splitlines()[1:]] == ["a1", "a2", "a3"]
    assert err == (
        "left out 4 records of anomaly-alerts that are no alert event this release can read (partition 0 "
        "offset 3: alert a4: opened_at must be a finite number, got nan; partition 0 offset 4: not JSON; "
        "partition 0 offset 5: no alert_id; and 1 more): no alert they may tell of is listed; the daemons "
        "write none such, so look at what else writes to the topic\n"
    )


def test_json_gives_an_events_nan_or_infinity_as_null_strict_json(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: `alerts --json` wrote NaN and Infinity (a suspect sensor's reading as the event gave it),
    # which jq and every strict JSON parser refuse, on the whole line.
    suspect = b'"suspect_sensors": [{"sensor": "flow", "value": NaN, "typical_value": Infinity}]'
    event = b'{"alert_id": "a5", "asset_id": "pump-05", %s, "score": 0.9, %s}' % (_OPEN, suspect)
    out, _ = _alerts(monkeypatch, [event], as_json=True)
    (listed,) = [json.loads(line, parse_constant=pytest.fail) for line in out.splitlines()]
    assert listed["suspect_sensors"] == [{"sensor": "flow", "value": None, "typical_value": None}]
    table, _ = _alerts(monkeypatch, [event])
    assert "flow (reads nan, typical inf)" in table
