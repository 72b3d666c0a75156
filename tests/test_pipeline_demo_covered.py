"""The demo tells a fault begun while its asset's alert was already open (held open by
``alerts.resolve_hold_s``) from a fault missed outright: both count as undetected in its recall, as
in the plant bench, but its screen and summary say how many of each there are."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

from pipeline.democonsole import DemoConsole
from pipeline.operator import OperatorStats
from pipeline.scoreboard import Scoreboard
from pipeline.simulator.stream import StreamStats


def _console() -> DemoConsole:
    console = object.__new__(DemoConsole)  # no Kafka: its topics are fed by hand below
    console.out, console.board = io.StringIO(), Scoreboard(grace_s=30, settle_s=30)
    console.scored, console.lag, console.version, console.runs = SimpleNamespace(rate=0.0), 0.0, "v1", {}
    console.operator = SimpleNamespace(stats=OperatorStats())
    console.alert_versions, console.retrainer_port = {}, None
    console.unreadable, console.unreadable_named = 0, []
    return console


def _fault(board: Scoreboard, asset: str, start: float, end: float) -> None:
    fault = {"asset_id": asset, "kind": "seal_leak", "onset": start}
    board.add_truth(fault | {"state": "start", "ts": start})
    board.add_truth(fault | {"state": "end", "ts": end})


def _alert(board: Scoreboard, alert_id: str, asset: str, opened: float, resolved: float | None) -> None:
    event = {"alert_id": alert_id, "asset_id": asset, "opened_at": opened, "score": 0.9}
    board.add_alert(event | {"state": "open", "ts": opened})
    if resolved is not None:
        board.add_alert(event | {"state": "resolved", "ts": resolved})


def test_a_fault_begun_under_an_open_alert_is_told_from_a_miss_on_the_screen_and_in_the_summary() -> None:
    # Before, both read as a plain miss: recall 0.00 and nothing more, though p1's alert, opened by
    # an earlier fault, was open all through the second one.
    console, t0 = _console(), time.time() - 2000
    board = console.board
    _fault(board, "p1", t0, t0 + 100)
    _alert(board, "a1", "p1", t0 + 20, t0 + 900)  # detects the first; held open over the second
    _fault(board, "p1", t0 + 400, t0 + 500)  # began under a1: no alert of its own
    _fault(board, "p2", t0 + 400, t0 + 500)  # no alert at all
    console.print_summary(1.0, StreamStats())
    line = console.out.getvalue().splitlines()[0]
    assert line.endswith("precision 1.00 recall 0.33 (2 undetected: 1 under an open alert, 1 missed)"), line
    summary = console.summary(StreamStats())
    assert summary["recall"] == 1 / 3 and summary["faults_detected"] == 1
    assert summary["faults_covered_by_open_alert_undetected"] == 1 and summary["faults_missed"] == 1


def test_only_an_alert_open_at_the_fault_s_start_covers_it() -> None:
    board = Scoreboard(grace_s=10, settle_s=5)
    _alert(board, "a1", "p1", 100.0, 300.0)
    _fault(board, "p1", 200.0, 250.0)  # under a1
    _fault(board, "p1", 350.0, 400.0)  # a1 resolved before it began
    _alert(board, "a2", "p2", 500.0, None)  # still open
    _fault(board, "p2", 450.0, 460.0)  # before a2 opened, and a2 opened after its end + grace
    _fault(board, "p2", 600.0, 700.0)  # under a2
    _fault(board, "p3", 650.0, 700.0)  # another asset's alert covers nothing here
    assert board.detected() == [] and board.undetected(now=1000.0) == (2, 3)
    assert board.undetected(now=652.0) == (2, 2)  # p3's fault is not judged yet
    board.add_alert({"state": "resolved", "alert_id": "a2", "asset_id": "p2", "opened_at": 500.0, "ts": "x"})
    assert board.undetected(now=1000.0) == (1, 4)  # a resolve time not known covers nothing
