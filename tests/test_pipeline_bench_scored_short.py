"""``dhag-pipeline bench``'s latency run waits for the scores of every record it offered, the warm-up's
counted as they were sent (not as a round 100), and warns when fewer came: its latency percentiles then
leave out the records not scored in time, the slowest ones."""

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


def _scores(n: int) -> list[Any]:
    later = time.time() + 3600  # after the run's start: every one is measured
    return [
        SimpleNamespace(
            value=orjson.dumps({"partition": 0, "offset": i, "ts": later, "scored_at": later + 0.01})
        )
        for i in range(n)
    ]


def test_the_latency_run_waits_for_the_warm_up_records_it_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int | None] = []

    def read_all(
        bootstrap: str, topic: str, count: int | None = None, timeout_s: float = 120, **kw: Any
    ) -> list[Any]:
        counts.append(count)
        return _scores(1) if topic.endswith("-scores") else []

    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", lambda b, t, rate, d: (102, 1.0) if rate == 100 else (500, 1.0))
    monkeypatch.setattr(bench, "_read_all", read_all)
    bench._latency("b", Path("r"), "bench-lat", 500, 1.0)
    assert counts[-2] == 102 + 500  # the scores: the warm-up's 102 and the run's 500; then the alerts


@pytest.mark.parametrize(("scored", "warned"), [(400, True), (500, False)])
def test_a_run_scored_short_of_what_it_sent_is_said(
    scored: int, warned: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(bench, "_train", lambda registry: None)
    monkeypatch.setattr(bench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(bench, "_raw_consume_rps", lambda *a: 50_000.0)
    monkeypatch.setattr(bench, "_pipeline_rps", lambda *a: (40_000.0, 300.0))
    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", lambda b, t, rate, d: (100, 1.0) if rate == 100 else (500, 1.0))
    monkeypatch.setattr(
        bench, "_read_all", lambda b, topic, *a, **kw: _scores(scored) if topic.endswith("-scores") else []
    )
    monkeypatch.setattr(bench, "emit", lambda result, out: None)
    assert bench.run_bench(Settings(), records=300_000, rate=500, duration=1.0, out=None) == 0
    said = "scored 400 of the 500 records" in caplog.text
    assert said is warned
