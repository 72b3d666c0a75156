"""The demo's screen says which machines stand still and which warm up after a start, as its daemon's
``dhag_asset_state`` says (read from its metrics endpoint with the rest), and says nothing of machines
while all run; its summary names those stopped and warming up at its end."""

from __future__ import annotations

import io

import pytest
from prometheus_client import CollectorRegistry
from test_pipeline_demo_console_unknown import _Reader

from pipeline import democonsole
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics, serve_metrics
from pipeline.simulator.stream import StreamStats
from pipeline.warmup import RUNNING, STANDSTILL, WARMING_UP


def _screens(monkeypatch: pytest.MonkeyPatch, states: list[dict[str, int]]) -> tuple[list[str], dict]:
    """The screen the console prints after each poll of a daemon's real metrics endpoint whose assets
    are in ``states`` in turn, and its summary at the end."""
    monkeypatch.setattr(democonsole, "KafkaConsumer", _Reader)
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    server, port = serve_metrics(registry, "127.0.0.1", 0)
    out, screens = io.StringIO(), []
    try:
        console = democonsole.DemoConsole("127.0.0.1:1", Settings(), port, out)
        for assets in states:
            for asset, state in assets.items():
                metrics.set_asset(asset, score=0.1, anomalous=False, state=state)
            console.poll()
            console.print_summary(5.0, StreamStats())
            screens.append(out.getvalue())
            out.truncate(0)
            out.seek(0)
    finally:
        server.shutdown()
    return screens, console.summary(StreamStats())


def test_the_screen_says_which_machines_are_stopped_and_warming_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, it never said so: after `demo --stop pump-02:300:1500` nothing on it told the stop.
    fleet = {"pump-01": RUNNING, "pump-02": RUNNING, "fan-03": RUNNING}
    screens, summary = _screens(
        monkeypatch,
        [
            fleet,
            {"pump-02": STANDSTILL, "fan-03": STANDSTILL},
            {"pump-02": WARMING_UP},
            {"pump-02": RUNNING, "fan-03": RUNNING},
            {"pump-02": STANDSTILL},
        ],
    )
    assert "machines" not in screens[0], screens[0]  # all running: the screen as it always was
    assert len(screens[0].splitlines()) == 1, screens[0]
    assert screens[1].splitlines()[1] == "    machines: stopped fan-03, pump-02", screens[1]
    assert screens[2].splitlines()[1] == "    machines: stopped fan-03 | warming up pump-02", screens[2]
    assert "machines" not in screens[3], screens[3]
    assert summary["machines_stopped_at_end"] == ["pump-02"], summary
    assert summary["machines_warming_up_at_end"] == [], summary


def test_a_fleet_mostly_stopped_names_a_few_and_counts_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = {f"pump-{i:02d}": STANDSTILL for i in range(9, 0, -1)} | {"fan-01": WARMING_UP}
    screens, summary = _screens(monkeypatch, [fleet])
    line = screens[0].splitlines()[1]
    assert line == "    machines: stopped pump-01, pump-02, pump-03 and 6 more | warming up fan-01", line
    assert summary["machines_stopped_at_end"] == [f"pump-{i:02d}" for i in range(1, 10)]


def test_the_summary_says_null_where_the_daemon_never_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(democonsole, "KafkaConsumer", _Reader)
    monkeypatch.setattr(democonsole, "scrape", lambda port, host: {})
    out = io.StringIO()
    console = democonsole.DemoConsole("127.0.0.1:1", Settings(), 9108, out)
    console.poll()
    console.print_summary(5.0, StreamStats())
    assert "machines" not in out.getvalue()
    summary = console.summary(StreamStats())
    assert summary["machines_stopped_at_end"] is None and summary["machines_warming_up_at_end"] is None
