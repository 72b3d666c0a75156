"""``dhag-pipeline bench`` whose daemon fails: a latency run whose daemon exited, or never scored a
record, ends the bench with exit 1 and an error saying so, not a summary of null latencies and exit 0."""

from __future__ import annotations

import itertools
import time
from types import SimpleNamespace
from typing import Any

import pytest
from bench_support import NoBroker

from pipeline import bench
from pipeline.config import Settings


def _bench(monkeypatch: pytest.MonkeyPatch, daemon: SimpleNamespace) -> list[dict[str, Any]]:
    """``run_bench`` with the throughput measures stood in for and a latency run on ``daemon``, whose
    scores topic stays empty; a clock that moves a second a call, so that waits end at once."""
    monkeypatch.setattr(bench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(bench, "_train", lambda registry: None)
    monkeypatch.setattr(bench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(bench, "_raw_consume_rps", lambda *a: 50_000.0)
    monkeypatch.setattr(bench, "_pipeline_rps", lambda *a: (40_000.0, 300.0))
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: daemon)
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", lambda *a: (100, 1.0))
    monkeypatch.setattr(bench, "_read_all", lambda *a, **kw: [])
    ticks = itertools.count()
    clock = SimpleNamespace(
        monotonic=lambda: float(next(ticks)),
        sleep=lambda s: None,
        time=time.time,
        perf_counter=time.perf_counter,
    )
    monkeypatch.setattr(bench, "time", clock)
    results: list[dict[str, Any]] = []
    monkeypatch.setattr(bench, "emit", lambda result, out: results.append(result))
    assert bench.run_bench(Settings(), records=300_000, rate=5000, duration=1.0, out=None) == 1
    return results


def test_a_latency_daemon_that_exited_fails_the_bench(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert _bench(monkeypatch, SimpleNamespace(poll=lambda: 3, returncode=3)) == []
    assert "exited with 3" in caplog.text


def test_a_latency_daemon_that_never_scored_fails_the_bench(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert _bench(monkeypatch, SimpleNamespace(poll=lambda: None, returncode=None)) == []
    assert "scored no record" in caplog.text
