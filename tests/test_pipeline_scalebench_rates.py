"""``dhag-pipeline bench scale``: a run whose daemons had committed every record by the time each held
partitions measured no rate; it says ``null`` (and no speedup against it), not 0 records/s."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bench_support import NoBroker

from pipeline import bench, scalebench
from pipeline.config import Settings


def _daemons(monkeypatch: pytest.MonkeyPatch, commits: list[int]) -> list[float]:
    """Daemons whose group's committed offsets read ``commits`` in turn, each read taking a second of the
    stand-in clock; returns that clock (one value, in a list)."""
    counts = iter(commits)
    now = [0.0]

    def committed(*args: object) -> int:
        now[0] += 1.0
        return next(counts, commits[-1])

    monkeypatch.setattr(bench, "_committed", committed)

    def perf_counter() -> float:  # a reading of the clock takes a millisecond
        now[0] += 0.001
        return now[0]

    monkeypatch.setattr(scalebench.time, "perf_counter", perf_counter)
    monkeypatch.setattr(scalebench.time, "sleep", lambda s: None)
    monkeypatch.setattr(scalebench, "free_port", lambda: 1)
    monkeypatch.setattr(scalebench, "_assigned", lambda port: 2.0)
    daemon = SimpleNamespace(poll=lambda: None, terminate=lambda: None)
    monkeypatch.setattr(scalebench, "subprocess", SimpleNamespace(Popen=lambda *a, **kw: daemon, DEVNULL=-3))
    monkeypatch.setattr(scalebench, "stop_process", lambda proc, grace: None)
    return now


def test_a_run_whose_records_were_all_committed_once_assigned_measured_no_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _daemons(monkeypatch, [3000, 3000])
    run = scalebench._scale_run("b", tmp_path, "scale-1", 3000, 1, tmp_path)
    assert run["rps"] is None


def test_a_run_counts_the_records_committed_once_every_daemon_holds_partitions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _daemons(monkeypatch, [1000, 2000, 3000])
    run = scalebench._scale_run("b", tmp_path, "scale-1", 3000, 1, tmp_path)
    assert run["rps"] == pytest.approx(1000, rel=0.01) and run["records_after_all_assigned"] == 2000


def test_no_speedup_is_given_against_a_run_that_measured_no_rate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rates = iter([None, 900])

    def scale_run(bs: str, registry: Path, topic: str, records: int, k: int, work: Path) -> dict[str, Any]:
        return {"replicas": k, "records_after_all_assigned": 0, "seconds": 1.0, "rps": next(rates)}

    monkeypatch.setattr(scalebench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(scalebench, "_train", lambda registry: None)
    monkeypatch.setattr(scalebench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(scalebench, "_scale_run", scale_run)
    assert scalebench.run_scale_bench(Settings(), records=3000, replicas=2, out=None) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["speedup"] == [None, None]


def test_more_replicas_than_partitions_is_refused_by_the_parser_naming_only_that(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before: 'bench scale: --records must be positive and --replicas between 1 and 6', of a --records
    # left at its default.
    from pipeline.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["bench", "scale", "--replicas", "7"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --replicas: must be from 1 to 6 (one partition each of its 6), got 7" in err
    assert "--records" not in err.splitlines()[-1]


def test_a_run_is_timed_to_the_commit_that_held_the_last_record_not_the_pause_after_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before: the run ended when the loop did, after its 0.1 s pause, so each run's seconds held a
    # pause in which nothing was scored (a 4-second run was rated 2.5 % low).
    now = _daemons(monkeypatch, [1000, 2000, 3000])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(scalebench.time, "sleep", sleep)
    run = scalebench._scale_run("b", tmp_path, "scale-1", 3000, 1, tmp_path)
    # Commits are read a second (plus the pauses) apart: 2000 records between the first and the last.
    assert run["seconds"] == pytest.approx(2.2, abs=0.01)
    assert run["rps"] == pytest.approx(2000 / 2.2, rel=0.005)


def test_a_run_whose_records_were_all_committed_before_every_daemon_held_partitions_measured_no_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: it failed the bench, exit 1, with 'bench scale failed: 2 daemon(s) committed 3000 of 3000
    # records', an error that reads as a success: the first daemon had scored every record before the
    # second was given a partition, which --records many times kafka.batch_size avoids.
    _daemons(monkeypatch, [3000])
    monkeypatch.setattr(scalebench, "_assigned", lambda port: 0.0)
    run = scalebench._scale_run("b", tmp_path, "scale-2", 3000, 2, tmp_path)
    assert run["rps"] is None and run["records_after_all_assigned"] == 0
    assert "before every one held partitions" in caplog.text and "--records" in caplog.text
