"""``dhag-pipeline alerts``: an operator's name longer than 24 columns (the contract allows 128
characters) is shortened in its middle in the table's LABEL cell, its start and end kept; ``--json``
gives it whole (no broker needed)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import Episode
from pipeline.config import Settings
from pipeline.textwidth import display_width

T = 1.8e9
LONG = "maintenance-contractor-" + "n" * 90 + "-shift-b"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _listed(monkeypatch: pytest.MonkeyPatch, out: io.StringIO, *, as_json: bool = False) -> str:
    episode = Episode("a1", "pump-01", T, 0.9, "v1", ["flow_m3h", "temp_c", "vibration"])
    episode.labels = [
        {"label": "anomaly", "operator": LONG, "ts": T + 60.0},
        {"label": "normal", "operator": "lee", "ts": T + 120.0},
        {"label": "anomaly", "operator": LONG + "-2", "ts": T + 180.0},
    ]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {"a1": episode})
    monkeypatch.setenv("COLUMNS", "170")
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    assert alertscmd.run_alerts(Settings(), args, out=out, err=io.StringIO()) == 0
    return out.getvalue()


@pytest.mark.parametrize("out", [Terminal(), io.StringIO()], ids=["terminal", "pipe"])
def test_a_long_operator_name_is_shortened_in_the_label_cell(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO
) -> None:
    # Before, LABEL was kept whole: two 120-character names made the one row 250 columns wide, and in
    # a terminal cut the sensors to their narrowest and wrapped the row over several lines.
    header, row = _listed(monkeypatch, out).splitlines()
    cell = row[header.index("LABEL") :]
    assert cell.startswith("anomaly (maintenanc") and cell.endswith("-shift-b-2), disputed by lee")
    assert "..." in cell and display_width(cell) <= len("anomaly (), disputed by lee") + 24
    assert display_width(row) <= 170 and "flow_m3h,temp_c,vibration" in row


def test_the_json_gives_the_names_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    (episode,) = map(json.loads, _listed(monkeypatch, io.StringIO(), as_json=True).splitlines())
    assert episode["label"]["operator"] == LONG + "-2" and episode["labels"][0]["operator"] == LONG
