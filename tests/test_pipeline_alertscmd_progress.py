"""``dhag-pipeline alerts`` reading its topics whole says how far it has read on a terminal's stderr once
the read has taken a while (a line redrawn in place, erased before anything else is said), and says
nothing of it to a pipe or a file (no broker needed: the topics' records stand in a fake reader)."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd, readprogress
from pipeline.config import Settings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _alerts(monkeypatch: pytest.MonkeyPatch, err: io.StringIO, since: str | None = None) -> str:
    events = [
        {"alert_id": f"a{k}", "asset_id": "pump-01", "state": "open", "opened_at": 1.8e9 + k, "ts": 1.8e9 + k}
        for k in range(1200)
    ]
    records = [SimpleNamespace(value=orjson.dumps(e), timestamp=-1) for e in events]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: records if "alert" in topic else [])
    monkeypatch.setattr(readprogress, "AFTER_S", 0.0)  # a read as long as one of months of alerts
    monkeypatch.setattr(readprogress, "EVERY_S", 0.0)
    # A clock that stands still: the line reads "(0 s)" however slowly a loaded machine reads.
    monkeypatch.setattr(readprogress, "time", SimpleNamespace(monotonic=lambda: 100.0))
    monkeypatch.setenv("COLUMNS", "200")
    args = argparse.Namespace(open=False, asset=None, limit=1, json=False, bootstrap="k:9092", since=since)
    out = io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


def test_a_long_read_says_how_far_it_has_read_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, alerts said nothing while it read: 200,000 alert events took 20 s to 60 s of silence.
    err = Terminal()
    _alerts(monkeypatch, err)
    said = err.getvalue()
    assert "\ralerts: read 500 records of anomaly-alerts (0 s); --since 1d reads less" in said, said
    assert "\ralerts: read 1,000 records of anomaly-alerts (0 s); --since 1d reads less" in said, said
    # Erased before the note on the episodes left out, which starts a line of its own.
    line = "alerts: read 1,000 records of anomaly-alerts (0 s); --since 1d reads less"
    assert said.endswith(
        f"\r{' ' * len(line)}\r1199 more episodes matched (older than the 1 listed); "
        "--limit 1200 lists them all\n"
    ), said


def test_a_read_since_a_time_does_not_suggest_since(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Terminal()
    _alerts(monkeypatch, err, since="2020-01-01")
    said = err.getvalue()
    assert "\ralerts: read 1,000 records of anomaly-alerts (0 s)\r" in said, said


def test_a_pipe_gets_no_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    _alerts(monkeypatch, err)
    assert (
        err.getvalue()
        == "1199 more episodes matched (older than the 1 listed); --limit 1200 lists them all\n"
    )


def test_label_reading_the_topics_whole_says_how_far_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # An id not on the topic is looked for in all it retains: the line is erased before the refusal.
    events = [
        {"alert_id": f"a{k}", "asset_id": "pump-01", "state": "open", "opened_at": 1.8e9 + k, "ts": 1.8e9 + k}
        for k in range(1200)
    ]
    records = [SimpleNamespace(value=orjson.dumps(e), timestamp=-1) for e in events]
    monkeypatch.setattr(alertscmd, "read_topic", lambda _b, topic, *_: records if "alert" in topic else [])
    monkeypatch.setattr(readprogress, "AFTER_S", 0.0)
    monkeypatch.setattr(readprogress, "EVERY_S", 0.0)
    monkeypatch.setenv("COLUMNS", "200")
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(["zz9", "--normal", "--operator", "kim", "--bootstrap", "k:9092"])
    err = Terminal()
    assert alertscmd.run_label(Settings(), args, io.StringIO(), err) == 2
    said = err.getvalue()
    line = "label: read 1,000 records of anomaly-alerts (0 s)"
    assert f"\r{line}" in said and f"\r{' ' * len(line)}\runknown alert 'zz9'" in said, said
