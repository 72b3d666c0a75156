"""``dhag-pipeline alerts``: the table says when a resolved episode ended (RESOLVED, in OPENED's format;
``-`` while open), as ``--json`` gives ``resolved_at``, and keeps that time whole in a narrow terminal."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.config import Settings
from pipeline.textwidth import display_width

T = 1.8e9  # 2027-01-15T08:00:00Z
SENSORS = ["suction_pressure", "discharge_temp", "flow_m3h", "bearing_vibration", "motor_current"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _listed(monkeypatch: pytest.MonkeyPatch, out: io.StringIO, *, as_json: bool = False) -> str:
    episodes = [
        Episode("a1", "pump-01", T, 0.9, "v1", SENSORS, resolved_at=T + 5400.0, resolved_by="normal_scores"),
        Episode("a2", "pump-02", T + 60.0, 0.8, "v1", SENSORS),
    ]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    assert alertscmd.run_alerts(Settings(), args, out=out, err=io.StringIO()) == 0
    return out.getvalue()


@pytest.mark.parametrize("out", [io.StringIO(), Terminal()], ids=["pipe", "terminal"])
def test_the_table_says_when_a_resolved_episode_ended(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO
) -> None:
    # Before, the table had no such column: only --json told a resolved episode's end.
    monkeypatch.setenv("COLUMNS", "80")
    lines = _listed(monkeypatch, out).splitlines()
    header = lines[0].split()
    assert header[header.index("OPENED") + 1] == "RESOLVED"
    start, end = lines[0].index("RESOLVED"), lines[0].index("SCORE")
    cells = {line.split()[0]: line[start:end].rstrip() for line in lines[1:] if not line.startswith(" ")}
    assert cells == {"a1": "2027-01-15T09:30:00Z", "a2": "-"}, lines
    if isinstance(out, Terminal):  # fitted: the sensors cut short, the times whole
        assert all(display_width(line) <= 80 for line in lines) and "..." in out.getvalue()
    listed = {
        e["alert_id"]: e["resolved_at"]
        for e in map(json.loads, _listed(monkeypatch, io.StringIO(), as_json=True).splitlines())
    }
    assert listed == {"a1": T + 5400.0, "a2": None}
