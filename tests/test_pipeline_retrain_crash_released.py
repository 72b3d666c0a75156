"""A retrainer killed in a run a promotion hold kept from promoting its candidate, before the run's
report, and the hold released before the retrainer restarts: the restart records the run as held, as
it ended, not as failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pipeline_retrain_crash import _crash_and_restart, _kill, _newest, _started

from pipeline import promotionhold
from pipeline import registry as reg
from pipeline.retrain import cycle
from pipeline.retrain.cycle import report_path


def test_a_held_run_killed_before_its_report_then_released_is_recorded_held(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    promotionhold.place(registry, reason="v1 under review", operator="ana")

    def killed_then_released(*args: object, **kwargs: object) -> None:
        promotionhold.release(registry)  # `models release` while the retrainer is down
        _kill()

    monkeypatch.setattr(cycle, "prune", killed_then_released)  # after the decision, before the report
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    assert reg.current(registry)[0] == "v1" and promotionhold.read(registry) is None
    candidate = _newest(registry)
    report = json.loads(report_path(registry, candidate).read_text())
    # Before: "not_promoted", the run counted as failed (DhagRetrainingFailing) and its labels as new,
    # though the hold had refused its promotion: the release took the only record of that away.
    assert report["decision"] == "held"
    assert "v1 under review" in report["reasons"][0] and "released" in report["reasons"][0]
    assert f"models promote {candidate}" in report["reasons"][0]
    assert report["promotion_hold"]["operator"] == "ana" and report["promotion_hold"]["released"]
    assert store.get_state("last_run_label_id") == str(store.last_label_id()) and restarted.due() is None
    assert metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") == 0


def test_a_released_hold_that_refused_nothing_does_not_make_a_later_run_held(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = _started(registry, tmp_path / "labels.sqlite")
    promotionhold.place(registry, reason="placed and released before the run")
    promotionhold.release(registry)
    real_promote = reg.promote

    def killed(*args: object, **kwargs: object) -> None:  # killed as it would have promoted
        _kill()

    monkeypatch.setattr(reg, "promote", killed)
    restarted, metrics, store = _crash_and_restart(registry, store, clock)
    monkeypatch.setattr(reg, "promote", real_promote)
    report = json.loads(report_path(registry, _newest(registry)).read_text())
    assert report["decision"] == "not_promoted"
    assert store.get_state("last_run_label_id") is None and restarted.due() == "labels"
