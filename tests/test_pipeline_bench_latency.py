"""``dhag-pipeline bench``'s latency run: its figures are those of the records the run offered at its
rate, not of the warm-up's, which wait for the daemon to join its group (seconds, not milliseconds), and
``scored`` counts only those, so it is never more than ``sent``."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pipeline import bench


def test_the_latency_run_leaves_the_warm_up_records_out(monkeypatch: pytest.MonkeyPatch) -> None:
    marks: list[float] = []

    def offer(bootstrap: str, topic: str, rate: int, duration: float) -> tuple[int, float]:
        if rate != 100:  # the measured run, after the warm-up's 100 records/s
            marks.append(time.time())
        return (50, 1.0) if rate != 100 else (100, 1.0)

    def read_all(
        bootstrap: str, topic: str, count: int | None = None, timeout_s: float = 120, **kw: Any
    ) -> list[Any]:
        if not marks:  # the warm-up waits for a first score
            return [SimpleNamespace(value=b"{}", timestamp=0)]
        mark = marks[0]
        if topic.endswith("-scores"):
            warm = [{"offset": i, "ts": mark - 9.0 + i / 100, "scored_at": mark - 1.0} for i in range(100)]
            run = [
                {"offset": 100 + i, "ts": mark + i / 100, "scored_at": mark + i / 100 + 0.010}
                for i in range(50)
            ]
            return [
                SimpleNamespace(value=orjson.dumps(m | {"partition": 0}), timestamp=0) for m in warm + run
            ]
        opened = [(mark - 9.0, mark - 1.0), (mark + 0.2, mark + 0.22)]
        return [
            SimpleNamespace(value=orjson.dumps({"ts": ts, "state": "open"}), timestamp=1000 * sent)
            for ts, sent in opened
        ]

    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench, "_offer_load", offer)
    monkeypatch.setattr(bench, "_read_all", read_all)
    result = bench._latency("b", Path("r"), "bench-lat", 5000, 1.0)
    assert result["sent"] == 50 and result["scored"] == 50
    assert result["produce_to_scored_ms"]["p99"] == pytest.approx(10.0, abs=0.2)
    assert result["alerts_opened"] == 1
    assert result["produce_to_alert_ms"]["p50"] == pytest.approx(20.0, abs=0.2)
