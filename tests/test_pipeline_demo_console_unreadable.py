"""The demo's screen goes on past a record of the alerts topic that is no alert event (not JSON, no
alert id, an id the retrainer refuses, no opening time), counting it and naming the first on its screen
as `dhag-pipeline alerts` does, and in its summary; before, the first such record stopped the demo with
a traceback (something else writing to the topic ended the demonstration of the daemon)."""

from __future__ import annotations

import pytest
from test_pipeline_demo_console_unknown import screen_of_alerts

from pipeline.config import Settings
from pipeline.simulator.stream import StreamStats

GOOD = (
    b'{"schema": 1, "state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0, '
    b'"ts": 5.0, "score": 0.9, "threshold": 0.5, "top_sensors": [{"sensor": "flow"}]}'
)
BAD = [
    b"not json at all",
    b'{"schema": 1, "state": "open", "asset_id": "pump-02", "opened_at": 5.0}',
    b'{"schema": 1, "state": "open", "alert_id": "a\\n2", "asset_id": "pump-02", "opened_at": 5.0}',
    b'{"schema": 1, "state": "open", "alert_id": "a3", "asset_id": "pump-03", "score": 0.9}',
    b"[1, 2]",
]


def test_records_that_are_no_alert_event_are_counted_and_named_not_the_end_of_the_demo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = Settings().kafka.topics.alerts
    console, screen = screen_of_alerts(monkeypatch, [*BAD, GOOD])
    assert "alerts 1 (1 open)" in screen, screen
    assert "    OPEN pump-01        score 0.900" in screen, screen
    assert f"left out 5 records of {topic} that are no alert event" in screen, screen
    assert "partition 0 offset 0: not JSON" in screen and "offset 1: no alert_id" in screen, screen
    assert "offset 2: alert 'a\\n2': alert_id must be a printable string" in screen, screen
    assert "and 2 more" in screen, screen
    assert console.summary(StreamStats())["alert_records_unreadable"] == 5
