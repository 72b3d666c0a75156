"""The demo's screen says ``-`` for the records scored a second and the lag until its daemon's metrics
have answered (twice, for a rate), as it says ``model in use -``: a daemon still loading its model has
scored nothing and reports no lag, which ``0 records/s scored, lag 0`` told as an idle daemon with
nothing waiting."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline import democonsole
from pipeline.config import Settings
from pipeline.operator import OperatorStats
from pipeline.simulator.stream import StreamStats


class _Reader:
    def __init__(self, **options: Any) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, parts: Any) -> None:
        pass

    def seek_to_beginning(self) -> None:
        pass

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        return {}

    def close(self) -> None:
        pass


def screen_of_alerts(
    monkeypatch: pytest.MonkeyPatch, values: list[bytes]
) -> tuple[democonsole.DemoConsole, str]:
    """The demo's console after one poll of an alerts topic holding ``values`` (partition 0 from offset
    0, its daemon's metrics unanswered), and the screen it printed."""
    topic = Settings().kafka.topics.alerts
    records = [SimpleNamespace(topic=topic, partition=0, offset=i, value=v) for i, v in enumerate(values)]

    class _Alerts(_Reader):
        def poll(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
            return {0: records}

    monkeypatch.setattr(democonsole, "KafkaConsumer", _Alerts)
    monkeypatch.setattr(democonsole, "scrape", lambda port, host: {})
    out = io.StringIO()
    console = democonsole.DemoConsole("127.0.0.1:1", Settings(), 9108, out)
    console.poll()
    console.print_summary(5.0, StreamStats())
    return console, out.getvalue()


def test_the_screen_says_dash_until_the_daemon_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(democonsole, "KafkaConsumer", _Reader)
    answers: list[dict[str, Any]] = [{}, {"processed": 0.0, "lag": 700.0, "version": "v1"}]
    answers.append({"processed": 500.0, "lag": 200.0, "version": "v1"})
    monkeypatch.setattr(democonsole, "scrape", lambda port, host: answers.pop(0))
    clock = iter([100.0, 105.0])
    monkeypatch.setattr(democonsole.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    console = democonsole.DemoConsole("127.0.0.1:1", Settings(), 9108, out)
    lines = []
    for _ in range(3):
        console.poll()
        console.print_summary(5.0, StreamStats())
        lines.append(out.getvalue().splitlines()[-1])
        out.truncate(0)
        out.seek(0)
    assert "     - records/s scored, lag - |" in lines[0], lines[0]
    assert "     - records/s scored, lag 700 |" in lines[1], lines[1]  # one answer: no rate yet
    assert "   100 records/s scored, lag 200 |" in lines[2], lines[2]


def test_a_rate_meter_has_no_rate_before_two_samples() -> None:
    meter = democonsole.RateMeter(10.0)
    assert meter.rate is None
    meter.add(0.0, 50.0)
    assert meter.rate is None
    meter.add(2.0, 150.0)
    assert meter.rate == 50.0


def test_a_demo_without_its_retrainer_says_so_not_none_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: 'demo --no-retrain' printed 'retraining runs: none yet' every 5 s, as if runs were to come.
    from types import SimpleNamespace

    monkeypatch.setattr(democonsole, "KafkaConsumer", _Reader)
    stats = OperatorStats()  # none given yet
    operator: Any = SimpleNamespace(stats=stats)
    lines = {}
    for port in (None, 9110):
        out = io.StringIO()
        console = democonsole.DemoConsole("127.0.0.1:1", Settings(), 9108, out, operator=operator)
        console.retrainer_port = port
        console.print_summary(5.0, StreamStats())
        lines[port] = out.getvalue()
    assert "retraining runs: off (--no-retrain)" in lines[None], lines[None]
    assert "retraining runs: none yet" in lines[9110], lines[9110]


def test_an_alert_scored_nan_or_infinity_is_read_and_shown_with_its_score_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, orjson refused the event's NaN and the demo stopped with a traceback; `alerts` reads it.
    event = (
        b'{"schema": 1, "state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, '
        b'"ts": 5.0, "score": NaN, "threshold": Infinity, "top_sensors": [{"sensor": "flow"}]}'
    )
    _, screen = screen_of_alerts(monkeypatch, [event])
    assert "alerts 1 (1 open)" in screen, screen
    assert "    OPEN pump-01        score -  top flow" in screen, screen
