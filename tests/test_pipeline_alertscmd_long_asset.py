"""``dhag-pipeline alerts``: an asset id longer than the table's ASSET column may take (40 columns) is
shortened in its middle, its start and its end kept (``plant-north-hall-x...xxxxxxxxxxx-pump-07``), in
a terminal and in a pipe alike; ``--json`` gives it whole (no broker needed)."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from pipeline import alertscmd
from pipeline.alertepisodes import COLUMNS, Episode
from pipeline.alertsfit import ASSET_COLUMNS, middle_clipped
from pipeline.config import Settings
from pipeline.textwidth import display_width

T = 1.8e9
LONG = "plant-north-hall-" + "x" * 90 + "-pump-07"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _listed(monkeypatch: pytest.MonkeyPatch, out: io.StringIO, *, as_json: bool = False) -> str:
    episodes = [
        Episode("a1", LONG, T, 0.9, "v1", ["flow_m3h"]),
        Episode("a2", "pump-02", T + 1, 0.8, "v1", ["temp"]),
    ]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    monkeypatch.setenv("COLUMNS", "150")
    args = argparse.Namespace(open=False, asset=None, limit=20, json=as_json, bootstrap="k:9092", since=None)
    err = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("out", [Terminal(), io.StringIO()], ids=["terminal", "pipe"])
def test_a_long_asset_id_is_shortened_in_its_middle(
    monkeypatch: pytest.MonkeyPatch, out: io.StringIO
) -> None:
    # Before, the asset id was kept whole: one 128-character id made every row of the table 100
    # columns wider, wrapping each over two lines of a terminal.
    lines = _listed(monkeypatch, out).splitlines()
    header, rows = lines[0], lines[1:]
    assert len(rows) == 2 and all(display_width(line) <= 150 for line in lines), lines
    start, end = header.index("ASSET"), header.index("STATE")
    cell = rows[1][start:end].rstrip()  # the older episode, a1
    assert cell.startswith("plant-north-ha") and cell.endswith("-pump-07") and "..." in cell
    assert display_width(cell) <= ASSET_COLUMNS
    assert rows[0][start:end].rstrip() == "pump-02"


def test_the_json_gives_it_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = [json.loads(line) for line in _listed(monkeypatch, io.StringIO(), as_json=True).splitlines()]
    assert {e["asset_id"] for e in listed} == {LONG, "pump-02"}


def test_middle_clipped() -> None:
    assert middle_clipped("pump-07", 32) == "pump-07"
    assert middle_clipped("abcdefghijklmnopqrstuvwxyz", 12) == "abcd...vwxyz"
    # Never inside an escape or a wide character.
    assert middle_clipped("'a\\x1b[2J" + "b" * 30 + "'", 14) == "'a...bbbbbbbb'"
    assert middle_clipped("山田" * 10, 11) == "山田...山田"
    assert COLUMNS.index("ASSET") == 1


def test_asset_given_as_the_table_shortens_it_names_the_whole_id(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, an operator who copied the shortened id from the table was told of the first few asset
    # ids on the topic, not of the one they copied.
    shortened = middle_clipped(LONG, ASSET_COLUMNS)
    episodes = [
        Episode("a1", LONG, T, 0.9, "v1", ["flow_m3h"]),
        Episode("a2", "pump-02", T + 1, 0.8, "v1", []),
    ]
    monkeypatch.setattr(alertscmd, "read_episodes", lambda *_: {e.alert_id: e for e in episodes})
    args = argparse.Namespace(
        open=False, asset=shortened, limit=20, json=False, bootstrap="k:9092", since=None
    )
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 2  # on no event: refused
    assert err.getvalue().endswith(f"; did you mean {LONG}?\n"), err.getvalue()
