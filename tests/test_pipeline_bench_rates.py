"""``dhag-pipeline bench``'s throughput figures: a rate is measured over the records that came after the
first batch (or commit), in the time they took; a run whose first batch held every record measured no
rate, and says so (``null``), rather than dividing by the microseconds one poll took or by nothing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from bench_support import NoBroker

from pipeline import bench
from pipeline.config import Settings


class _Clock:
    """``time.perf_counter`` for the measures: it moves only when ``step`` is called."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, step_s: float) -> None:
        self.now, self.step_s = 0.0, step_s
        monkeypatch.setattr(bench.time, "perf_counter", lambda: self.now)

    def step(self) -> None:
        self.now += self.step_s


class _Consumer:
    """A stand-in for kafka-python's consumer: each poll takes a step of the clock and hands out the next
    batch's records."""

    def __init__(self, batches: list[int], clock: _Clock) -> None:
        self._batches, self._clock = iter(batches), clock

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, parts: Any) -> None:
        pass

    def seek_to_beginning(self) -> None:
        pass

    def poll(self, timeout_ms: int, max_records: int) -> dict[str, list[int]]:
        self._clock.step()
        return {"tp": [0] * next(self._batches, 0)}

    def close(self) -> None:
        pass


def test_the_bare_consumer_rate_leaves_out_the_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock(monkeypatch, 1.0)
    monkeypatch.setattr(bench, "KafkaConsumer", lambda **kw: _Consumer([1000, 1000, 1000], clock))
    # The first batch comes at t=1; the other 2000 records take the 2 s to the last one.
    assert bench._raw_consume_rps("b", "t", 3000, Settings()) == pytest.approx(1000.0)


def test_a_bare_consumer_that_reads_everything_in_one_poll_measured_no_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock(monkeypatch, 1e-6)
    monkeypatch.setattr(bench, "KafkaConsumer", lambda **kw: _Consumer([3000], clock))
    assert bench._raw_consume_rps("b", "t", 3000, Settings()) is None


def _daemon(monkeypatch: pytest.MonkeyPatch, commits: list[int], step_s: float) -> None:
    """A daemon whose group's committed offsets read ``commits`` in turn, a clock step apart."""
    clock = _Clock(monkeypatch, step_s)
    counts = iter(commits)

    def committed(*args: object) -> int:
        clock.step()
        return next(counts, commits[-1])

    monkeypatch.setattr(bench, "_start_daemon", lambda *a: SimpleNamespace(poll=lambda: None))
    monkeypatch.setattr(bench, "_committed", committed)
    monkeypatch.setattr(bench, "_stop", lambda proc: 400.0)
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)


def test_a_daemon_that_commits_everything_at_once_measured_no_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _daemon(monkeypatch, [0, 0, 3000], 0.5)
    rps, rss = bench._pipeline_rps("b", bench.Path("r"), "t", 3000)
    assert rps is None and rss == 400.0


def test_the_daemon_rate_counts_the_records_committed_after_its_first_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _daemon(monkeypatch, [0, 1000, 2000, 3000], 1.0)
    rps, _ = bench._pipeline_rps("b", bench.Path("r"), "t", 3000)
    assert rps == pytest.approx(1000.0)


def test_the_summary_says_null_and_why_when_no_rate_was_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(bench, "_train", lambda registry: None)
    monkeypatch.setattr(bench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(bench, "_raw_consume_rps", lambda *a: None)
    monkeypatch.setattr(bench, "_pipeline_rps", lambda *a: (None, 300.0))
    latency = {
        "offered_rps": 10,
        "achieved_rps": 10,
        "sent": 10,
        "scored": 10,
        "produce_to_scored_ms": {"p50": 1.0, "p99": 2.0},
        "produce_to_alert_ms": {"p50": None, "p99": None},
        "alerts_opened": 0,
        "rss_mb": 310.0,
    }
    monkeypatch.setattr(bench, "_latency", lambda *a: latency)
    monkeypatch.setattr(bench, "emit", lambda result, out: print(sorted(result.items())))
    assert bench.run_bench(Settings(), records=3000, rate=10, duration=1.0, out=None) == 0
    out, err = capsys.readouterr()
    err += caplog.text
    assert "('pipeline_rps', None)" in out and "('raw_consume_rps', None)" in out
    assert "('ratio', None)" in out
    assert "--records 3000" in err and "kafka.batch_size" in err
