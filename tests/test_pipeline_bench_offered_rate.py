"""``dhag-pipeline bench``'s latency run reports the rate its producer achieved beside the ``--rate``
asked, and warns when it fell well short: its latency figures are then those of the lower rate, which a
summary that showed only ``sent`` let pass for the rate asked."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bench_support import NoBroker

from pipeline import bench
from pipeline.config import Settings


class _SlowProducer:
    """A producer on a loaded machine: each flush takes 50 ms, longer than the 20 ms tick it paces."""

    def __init__(self, **kwargs: object) -> None:
        pass

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        pass

    def flush(self, timeout: float) -> None:
        time.sleep(0.05)

    def close(self, timeout: float) -> None:
        pass


def test_the_latency_run_reports_the_rate_it_achieved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "KafkaProducer", _SlowProducer)
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    scored = [
        SimpleNamespace(value=b'{"partition": 0, "offset": 0, "ts": 0, "scored_at": 0}', timestamp=0)
    ]  # the warm-up's
    monkeypatch.setattr(bench, "_read_all", lambda b, topic, *a, **kw: scored if "scores" in topic else [])
    result = bench._latency("b", Path("r"), "bench-lat", 5000, 0.5)
    # 100 records a tick, a tick every 50 ms at best: about 2,000/s, nowhere near 5,000
    assert result["offered_rps"] == 5000
    assert 1000 <= result["achieved_rps"] <= 2200
    assert result["achieved_rps"] == pytest.approx(result["sent"] / 0.5, rel=0.3)


def _summary(monkeypatch: pytest.MonkeyPatch, achieved: int) -> list[dict[str, Any]]:
    """``run_bench``'s summary, its measures stood in for, the latency run having achieved ``achieved``."""
    monkeypatch.setattr(bench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(bench, "_train", lambda registry: None)
    monkeypatch.setattr(bench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(bench, "_raw_consume_rps", lambda *a: 50_000.0)
    monkeypatch.setattr(bench, "_pipeline_rps", lambda *a: (40_000.0, 300.0))
    latency = {
        "offered_rps": 5000,
        "achieved_rps": achieved,
        "sent": 60 * achieved,
        "scored": 60 * achieved,
        "produce_to_scored_ms": {"p50": 1.0, "p99": 2.0},
        "produce_to_alert_ms": {"p50": None, "p99": None},
        "alerts_opened": 0,
        "rss_mb": 310.0,
    }
    monkeypatch.setattr(bench, "_latency", lambda *a: latency)
    results: list[dict[str, Any]] = []
    monkeypatch.setattr(bench, "emit", lambda result, out: results.append(result))
    assert bench.run_bench(Settings(), records=300_000, rate=5000, duration=60.0, out=None) == 0
    return results


def test_a_rate_well_short_of_the_one_asked_is_said(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (result,) = _summary(monkeypatch, 1898)
    assert result["latency_run"]["achieved_rps"] == 1898
    assert "1898 records/s" in caplog.text and "--rate 5000" in caplog.text


def test_a_rate_met_is_not_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (result,) = _summary(monkeypatch, 4990)
    assert result["latency_run"]["achieved_rps"] == 4990
    assert "--rate" not in caplog.text
