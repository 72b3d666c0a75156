"""A retrainer killed in a run a promotion hold kept from promoting its candidate, before the run's
report: the restart records the run as held, as it ended, not as failed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from test_pipeline_retrain_crash import _crash_and_restart, _kill, _newest, _started
from test_pipeline_retrain_start_faults import _watching

from pipeline import promotionhold
from pipeline import registry as reg
from pipeline.retrain import cycle
from pipeline.retrain.cycle import report_path

OUTCOMES = ("promoted", "rejected", "held", "failed")


def test_a_held_run_killed_before_its_report_is_recorded_held(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    promotionhold.place(registry, reason="v1 under review", operator="ana")
    monkeypatch.setattr(cycle, "prune", _kill)  # the step after the decision, before the report
    before = time.time()
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    assert reg.current(registry)[0] == "v1"
    candidate = _newest(registry)
    report = json.loads(report_path(registry, candidate).read_text())
    # Before: "not_promoted", the run counted as failed (DhagRetrainingFailing until a run succeeded)
    # and its labels as new, so each restart under the hold trained the same candidate again.
    assert report["decision"] == "held"
    assert "v1 under review" in report["reasons"][0] and f"models promote {candidate}" in report["reasons"][0]
    assert report["promotion_hold"]["operator"] == "ana"
    assert "before writing this report" in report["after_error"]
    assert store.get_state("last_run_label_id") == str(store.last_label_id()) and restarted.due() is None
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") >= before - 1
    assert metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") == 0
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == 10_000.0
    assert f"its candidate {candidate} was held; recorded now" in caplog.text
    generate_latest(metrics)
    _watching(restarted, monkeypatch, 1)
    counted = {o: metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": o}) for o in OUTCOMES}
    assert counted == {o: float(o == "held") for o in OUTCOMES}


def test_a_hold_placed_after_the_kill_does_not_make_the_run_held(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    real_promote = reg.promote

    def killed_then_held(*args: object, **kwargs: object) -> None:  # no hold when it would have promoted
        promotionhold.place(registry, reason="placed after the kill")
        _kill()

    monkeypatch.setattr(reg, "promote", killed_then_held)
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    monkeypatch.setattr(reg, "promote", real_promote)
    report = json.loads(report_path(registry, _newest(registry)).read_text())
    assert report["decision"] == "not_promoted"  # accepted, never promoted: the run did not end
    assert store.get_state("last_run_label_id") is None and restarted.due() == "labels"


def test_a_hold_placed_after_the_publication_that_refused_the_promotion_makes_the_run_held(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    real_promote = reg.promote

    def held_then_checked(*args: object, **kwargs: object) -> object:  # placed in the gap, then checked
        promotionhold.place(registry, reason="placed in the gap", operator="ana")
        return real_promote(*args, **kwargs)

    monkeypatch.setattr(reg, "promote", held_then_checked)
    monkeypatch.setattr(cycle, "prune", _kill)  # killed once the hold refused the promotion
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    monkeypatch.setattr(reg, "promote", real_promote)
    candidate = _newest(registry)
    report = json.loads(report_path(registry, candidate).read_text())
    # Before: "not_promoted", the run counted as failed and its labels as new, though the hold refused
    # its promotion: the hold was placed after the candidate's publication, which was all it asked.
    assert report["decision"] == "held" and "placed in the gap" in report["reasons"][0]
    assert store.get_state("last_run_label_id") == str(store.last_label_id()) and restarted.due() is None
    assert metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") == 0
    assert promotionhold.read(registry).refused == candidate  # the refusal, as the hold file records it
