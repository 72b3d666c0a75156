"""``dhag-pipeline bench``'s latency run says when its daemon fell behind the load: the last records'
scores came long after the producer stopped, so the latency figures are a growing backlog's waits, not
the daemon's own, and a summary without a word let them pass for the daemon's latency at ``--rate``."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from bench_support import NoBroker

from pipeline import bench
from pipeline.config import Settings


def _latency_run(monkeypatch: pytest.MonkeyPatch, lag_s: float) -> dict[str, Any]:
    """``_latency`` over 0.3 s of load whose records were each scored ``lag_s`` after they were sent."""
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    sent_at: list[float] = []

    def offer(bootstrap: str, topic: str, rate: int, duration: float) -> tuple[int, float]:
        if duration >= 1.0:  # the warm-up's second; the run measured offers 0.3 s
            return 100, 1.0
        start = time.time()
        sent_at.extend(start + i * 0.03 for i in range(10))
        time.sleep(0.3)
        return 10, 0.3

    def read_all(bootstrap: str, topic: str, *a: object, **kw: object) -> list[SimpleNamespace]:
        if "scores" not in topic:
            return []
        if not sent_at:  # the warm-up's wait for a first score
            return [SimpleNamespace(value=b"{}", timestamp=0)]
        events = [
            {"partition": 0, "offset": i, "ts": ts, "scored_at": ts + lag_s} for i, ts in enumerate(sent_at)
        ]
        return [SimpleNamespace(value=orjson.dumps(e), timestamp=0) for e in events]

    monkeypatch.setattr(bench, "_offer_load", offer)
    monkeypatch.setattr(bench, "_read_all", read_all)
    return bench._latency("b", Path("r"), "bench-lat", 1000, 0.3)


def test_the_latency_run_reports_how_far_behind_its_daemon_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    behind = _latency_run(monkeypatch, 30.0)
    assert behind["behind_s"] == pytest.approx(30.0, abs=0.5)
    monkeypatch.undo()
    keeping_up = _latency_run(monkeypatch, 0.05)
    assert keeping_up["behind_s"] == pytest.approx(0.0, abs=0.2)


def _summary(monkeypatch: pytest.MonkeyPatch, behind_s: float | None) -> list[dict[str, Any]]:
    monkeypatch.setattr(bench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(bench, "_train", lambda registry: None)
    monkeypatch.setattr(bench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(bench, "_raw_consume_rps", lambda *a: 50_000.0)
    monkeypatch.setattr(bench, "_pipeline_rps", lambda *a: (40_000.0, 300.0))
    latency = {
        "offered_rps": 5000,
        "achieved_rps": 5000,
        "sent": 300_000,
        "scored": 300_000,
        "behind_s": behind_s,
        "produce_to_scored_ms": {"p50": 34_600.0, "p99": 61_300.0},
        "produce_to_alert_ms": {"p50": None, "p99": None},
        "alerts_opened": 0,
        "rss_mb": 310.0,
    }
    monkeypatch.setattr(bench, "_latency", lambda *a: latency)
    results: list[dict[str, Any]] = []
    monkeypatch.setattr(bench, "emit", lambda result, out: results.append(result))
    assert bench.run_bench(Settings(), records=300_000, rate=5000, duration=60.0, out=None) == 0
    return results


def test_a_daemon_that_fell_behind_is_said_to(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (result,) = _summary(monkeypatch, 27.4)
    assert result["latency_run"]["behind_s"] == 27.4
    assert "fell behind" in caplog.text and "27.4 s" in caplog.text


@pytest.mark.parametrize("behind_s", [0.3, None])
def test_a_daemon_that_kept_up_is_not_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, behind_s: float | None
) -> None:
    _summary(monkeypatch, behind_s)
    assert "fell behind" not in caplog.text
