"""A run's start reads the label store on the loop thread: when that fails (the store locked by a backup,
its volume full, out of memory), the run counts as failed, its partial writes are undone, and the loop
polls on; a backlog of alerts to forget is spread over runs, so no start outlasts the liveness probe."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from log_support import own_records
from plant_data import normal
from retrain_data import _readings
from test_pipeline_retrain_loop import _retrainer
from test_pipeline_retrain_stop import SAVED, _CaughtUp, _Idle

from pipeline.labelstore import LabelStore


def _locked(*args: object, **kwargs: object) -> None:
    raise sqlite3.OperationalError("database is locked")


def _watching(retrainer, monkeypatch, polls: int) -> list[int]:  # noqa: ANN001
    """Run ``retrainer``'s loop without Kafka for ``polls`` polls; returns the polls it made."""
    made: list[int] = []
    monkeypatch.setattr(retrainer, "_clients", lambda: (_Idle(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])

    def poll(consumer: object, producer: object) -> int:
        made.append(1)
        if len(made) == polls:
            retrainer.request_stop()
        return 0

    monkeypatch.setattr(retrainer, "_poll", poll)
    assert retrainer.run() == 0
    return made


def test_a_label_store_failing_at_a_runs_start_fails_the_run_and_the_loop_polls_on(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, the error left the loop: the retrainer exited (code 5, "locked by another process"), and
    # restarted into the same run start.
    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, metrics = _retrainer(registry, store, clock, min_interval_s=600.0)
    store.set_state("last_run_label_id", "7")
    monkeypatch.setattr(store, "latest_labels", _locked)
    real, asked = retrainer.due, []

    def due() -> str | None:  # a trigger, then the retrainer's own (min_interval_s from the failure)
        asked.append(1)
        return "labels" if len(asked) == 1 else real()

    monkeypatch.setattr(retrainer, "due", due)
    with caplog.at_level(logging.INFO, logger="pipeline.retrain.service"):
        assert len(_watching(retrainer, monkeypatch, 3)) == 3
    (error,) = [r for r in own_records(caplog) if r.levelno == logging.ERROR]
    assert error.getMessage() == (
        "retraining run (labels) could not start: reading the label store failed: "
        "OperationalError: database is locked; the next is tried after retrain.min_interval_s (600 s)"
    )
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    assert metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") > 0
    assert store.get_state("last_run_at") == repr(10_000.0)  # the next start waits min_interval_s
    assert store.get_state("last_run_label_id") == "7"  # its labels still count as new


def test_a_label_store_commit_failing_at_a_runs_start_fails_the_run_and_the_loop_polls_on(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, the start's first commit (of what the loop wrote) was outside the start's guard: its error
    # left the loop, and the retrainer exited into the same start at every restart.
    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, metrics = _retrainer(registry, store, clock, min_interval_s=600.0)
    store.set_state("last_run_label_id", "7")
    store.commit()
    real_commit, real_due, armed, asked = store.commit, retrainer.due, [], []

    def commit() -> None:  # the next commit after the trigger, the start's first, fails once
        if armed:
            armed.clear()
            raise sqlite3.OperationalError("database is locked")
        real_commit()

    def due() -> str | None:
        asked.append(1)
        if len(asked) > 1:
            return real_due()
        store.set_state("loop_wrote", "yes")  # as the loop records a finished run before a start
        armed.append(1)
        return "labels"

    monkeypatch.setattr(store, "commit", commit)
    monkeypatch.setattr(retrainer, "due", due)
    with caplog.at_level(logging.INFO, logger="pipeline.retrain.service"):
        assert len(_watching(retrainer, monkeypatch, 3)) == 3
    (error,) = [r for r in own_records(caplog) if r.levelno == logging.ERROR]
    assert error.getMessage() == (
        "retraining run (labels) could not start: committing to the label store failed: "
        "OperationalError: database is locked; the next is tried after retrain.min_interval_s (600 s)"
    )
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    store.rollback()  # what was committed stays
    # What the loop wrote before the start is not undone with it: the loop's own commit keeps it.
    assert store.get_state("loop_wrote") == "yes"
    assert store.get_state("last_run_label_id") == "7"  # the run's labels still count as new
    assert store.get_state("last_run_at") == repr(10_000.0)  # the next start waits min_interval_s
    assert store.get_state("run_under_way") in (None, "")  # no stamp: nothing to recover at a restart


def test_a_prune_failing_midway_leaves_the_store_as_it_was(registry: Path, monkeypatch) -> None:
    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, _ = _retrainer(registry, store, clock, alert_retention_s=60.0)
    for i, opened in enumerate((100.0, 200.0, 300.0)):
        store.add_alert(
            {"alert_id": f"a{i}", "asset_id": "p1", "state": "resolved", "opened_at": opened,
             "ts": opened + 5, "values": {"x": 1.0}}
        )  # fmt: skip
    store.commit()
    real = store._db
    executed: list[str] = []

    class _FailsAtTheSecondForget:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def execute(self, sql: str, *args: object) -> object:
            executed.append(sql)
            forgets = sum(s.startswith("DELETE FROM alerts") for s in executed)
            if sql.startswith("DELETE FROM alerts") and forgets == 2:
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    monkeypatch.setattr(store, "_db", _FailsAtTheSecondForget())
    clock[0] = 1e12  # every alert but the newest is past the retention
    future = retrainer.start_run("labels")
    assert isinstance(future.exception().__cause__, sqlite3.OperationalError)
    monkeypatch.setattr(store, "_db", real)
    store.commit()
    assert [store.has_alert(f"a{i}") for i in range(3)] == [True, True, True]
    assert store.forgotten("a0") is None


def test_a_one_off_run_whose_start_fails_says_so_and_exits_1(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0])
    monkeypatch.setattr(retrainer, "_clients", lambda: (_CaughtUp(), _Idle()))
    monkeypatch.setattr(retrainer, "_assign", lambda consumer: [])
    polls = iter([5, 0, 0])
    monkeypatch.setattr(retrainer, "_poll", lambda consumer, producer: next(polls))
    monkeypatch.setattr(store, "normal_sample", _locked)
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 1
    assert own_records(caplog)[-1].getMessage() == (
        "retrain --once failed: the retraining run could not start: reading the label store failed: "
        f"OperationalError: database is locked; {SAVED}"
    )


def test_a_backlog_of_alerts_to_forget_is_forgotten_over_several_runs(registry: Path, monkeypatch) -> None:
    from pipeline.retrain import runs

    monkeypatch.setattr(runs, "FORGET_PER_RUN", 4)
    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, _ = _retrainer(registry, store, clock, alert_retention_s=60.0)
    for i in range(10):  # ten episodes of one asset, the newest kept
        store.add_alert(
            {"alert_id": f"a{i}", "asset_id": "p1", "state": "resolved", "opened_at": 100.0 * i,
             "ts": 100.0 * i + 5, "values": {"x": 1.0}}
        )  # fmt: skip
    store.add_readings(_readings(normal(np.random.default_rng(1), 50), 5000.0), keep=1000)
    clock[0] = 1e12
    forgotten = []
    for _ in range(3):
        retrainer.start_run("labels").exception()
        retrainer._finish_run()
        forgotten.append(sum(not store.has_alert(f"a{i}") for i in range(10)))
    assert forgotten == [4, 8, 9]
    assert not store.has_alert("a0") and store.has_alert("a9")  # the oldest first


def test_a_backlog_is_forgotten_by_when_its_alerts_were_seen_across_assets(registry: Path) -> None:
    # The oldest seen first, whichever asset they belong to (not the assets in the order of their ids).
    store = LabelStore(":memory:")
    for asset, seen in (("a1", 5_000.0), ("b1", 1_000.0)):
        for i in range(3):  # the third, each asset's newest, is kept
            store.add_alert(
                {"alert_id": f"{asset}-{i}", "asset_id": asset, "state": "resolved", "opened_at": 100.0 * i,
                 "ts": 100.0 * i + 5, "values": {"x": 1.0}}
            )  # fmt: skip
        store._db.execute("UPDATE alerts SET seen_at = ? WHERE asset_id = ?", (seen, asset))
    assert store.prune_alerts(seen_before=1e12, margin_s=0.0, limit=2) == 2
    assert [a for a in ("a1-0", "a1-1", "b1-0", "b1-1") if not store.has_alert(a)] == ["b1-0", "b1-1"]
