"""The demo's screen names what it reads from its alerts and truth topics (asset ids, the model versions
that opened alerts, the kinds of fault) as ``dhag-pipeline alerts`` does: a line break or a terminal's
escape in one is shown escaped as ``dhag info`` shows a column's name (:func:`dhag.infotext.shown_name`),
so that it neither splits the summary's lines nor acts on the terminal."""

from __future__ import annotations

import io
from types import SimpleNamespace

from pipeline.democonsole import DemoConsole
from pipeline.operator import OperatorStats
from pipeline.scoreboard import Scoreboard
from pipeline.simulator.stream import StreamStats

ODD = "pump\n01\x1b[2J\x1b]0;owned\x07"
SHOWN = r"'pump\n01\x1b[2J\x1b]0;owned\x07'"


def _console() -> DemoConsole:
    console = object.__new__(DemoConsole)  # no Kafka: its topics are fed by hand below
    console.out, console.board = io.StringIO(), Scoreboard()
    console.scored, console.lag, console.version, console.runs = SimpleNamespace(rate=0.0), 0.0, "v1", {}
    console.operator = SimpleNamespace(stats=OperatorStats())
    console.alert_versions, console.retrainer_port = {}, None  # as with --no-retrain
    console.unreadable, console.unreadable_named = 0, []
    return console


def test_the_screen_shows_asset_ids_model_versions_and_fault_kinds_escaped() -> None:
    # Before, each was written raw: the alert's line split and the terminal cleared and was retitled.
    console = _console()
    console.board.add_truth({"state": "start", "asset_id": ODD, "kind": ODD, "onset": 0.0, "ts": 1.0})
    event = {"state": "open", "alert_id": "a1", "asset_id": ODD, "opened_at": 5.0, "score": 0.99}
    console.board.add_alert(event | {"top_sensors": [{"sensor": "flow"}]})
    console.alert_versions["a1"] = ODD
    console.print_summary(1.0, StreamStats())
    printed = console.out.getvalue()
    assert "\x1b" not in printed and "\x07" not in printed and len(printed.splitlines()) == 4, printed
    assert f"precision by model version: {SHOWN}: 1.00 of 1" in printed
    assert f"    OPEN {SHOWN} score 0.990  top flow  suspect: -  [truth: {SHOWN}]" in printed
