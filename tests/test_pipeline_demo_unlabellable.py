"""The demo's screen marks an alert whose events the retrainer refuses each (an asset id or model version
that is no id of the alerts topic) ``not labellable: bad FIELD``, as ``dhag-pipeline alerts`` marks it,
and its simulated operator leaves it unlabelled, as ``label`` refuses it, saying how many on the
operator's line: the retrainer keeps no such alert, so a label of it would go to the labels' dead-letter
topic. Before, the screen listed it as any other and the operator's label of it was dead-lettered."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from test_pipeline_demo_console_unknown import _Reader

from pipeline import democonsole
from pipeline.config import Settings
from pipeline.operator import SimulatedOperator
from pipeline.retrain.alertfeed import AlertEventError, checked_alert_event
from pipeline.simulator.stream import StreamStats

_OPEN = {"schema": 1, "state": "open", "alert_id": "a1", "asset_id": "pump-01", "opened_at": 5.0,
         "ts": 5.0, "score": 0.9, "threshold": 0.5, "model_version": "v1",
         "top_sensors": [{"sensor": "flow"}]}  # fmt: skip


def _screen(monkeypatch: pytest.MonkeyPatch, events: list[dict[str, Any]]) -> tuple[str, list[bytes]]:
    """The demo's screen after it read ``events`` and its operator answered them, and the labels sent;
    the summary's count of alerts not labellable ends the screen (``not labellable in summary: N``)."""
    topic = Settings().kafka.topics.alerts
    records = [SimpleNamespace(topic=topic, partition=0, offset=i, value=orjson.dumps(e)) for i, e in
               enumerate(events)]  # fmt: skip

    class _Alerts(_Reader):
        def poll(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
            return {0: records}

    monkeypatch.setattr(democonsole, "KafkaConsumer", _Alerts)
    monkeypatch.setattr(democonsole, "scrape", lambda port, host: {})
    monkeypatch.setattr(democonsole.time, "time", lambda: 100.0)
    sent: list[bytes] = []
    operator = SimulatedOperator(sent.append, delay_s=0.0, error_rate=0.0, seed=0)
    out = io.StringIO()
    console = democonsole.DemoConsole("127.0.0.1:1", Settings(), 9108, out, operator=operator)
    console.poll()
    console.poll()  # the operator answers what was due at the first
    console.print_summary(5.0, StreamStats())
    counted = console.summary(StreamStats())["alerts_not_labellable"]
    return f"{out.getvalue()}not labellable in summary: {counted}\n", sent


@pytest.mark.parametrize(
    ("broken", "field"),
    [({"asset_id": 42}, "asset_id"), ({"model_version": ""}, "model_version"), ({"ts": "5"}, "ts")],
)
def test_an_alert_the_retrainer_refuses_is_marked_and_left_unlabelled(
    monkeypatch: pytest.MonkeyPatch, broken: dict[str, Any], field: str
) -> None:
    refused = _OPEN | {"alert_id": "a2"} | broken
    with pytest.raises(AlertEventError):
        checked_alert_event(refused)  # the retrainer's reading: a label of a2 would be dead-lettered
    screen, sent = _screen(monkeypatch, [_OPEN, refused])
    lines = [line for line in screen.splitlines() if "OPEN" in line]
    assert len(lines) == 2 and "not labellable" not in lines[0], screen
    assert lines[1].endswith(f"[truth: no fault: false alert]  not labellable: bad {field}"), screen
    assert [orjson.loads(label)["alert_id"] for label in sent] == ["a1"]
    assert "operator labels 1 (0 anomaly, 1 normal, 0 wrong on purpose; 1 alert not labellable" in screen
    assert screen.endswith("not labellable in summary: 1\n"), screen


def test_an_alert_one_of_whose_events_is_kept_is_labelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its resolved event is kept: the retrainer joins a label to it, as `alerts` judges it labellable.
    opened = _OPEN | {"model_version": ""}
    resolved = _OPEN | {"state": "resolved", "ts": 9.0, "score": 0.1}
    screen, sent = _screen(monkeypatch, [opened, resolved, opened])
    assert "not labellable:" not in screen and "labels 1 (0 anomaly, 1 normal, 0 wrong on purpose)" in screen
    assert screen.endswith("not labellable in summary: 0\n"), screen
    assert [orjson.loads(label)["alert_id"] for label in sent] == ["a1"]
