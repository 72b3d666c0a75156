"""The retrainer's loop (no broker): what starts a run, how runs are counted, the normal sample it keeps,
and the state it keeps across restarts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from plant_data import gross_outliers, normal
from retrain_data import SETTINGS, _readings

from pipeline.labelstore import LabelStore


def _retrainer(registry: Path, store: LabelStore, clock: list[float], **retrain: object):
    from prometheus_client import CollectorRegistry

    from pipeline.config import Settings
    from pipeline.metrics import RetrainMetrics
    from pipeline.retrain.service import Retrainer

    settings = Settings.model_validate(
        {"model": {"registry": str(registry)}, "retrain": SETTINGS.model_dump() | retrain}
    )
    metrics = CollectorRegistry()
    retrainer = Retrainer(
        settings, store, RetrainMetrics(metrics), bootstrap_servers="unused:9092", clock=lambda: clock[0]
    )
    return retrainer, metrics


def test_triggers_new_labels_schedule_and_drift_with_a_minimum_interval(registry: Path) -> None:
    from pipeline.labels import Label
    from pipeline.labelstore import Source

    store = LabelStore(":memory:")
    clock = [10_000.0]
    retrainer, _ = _retrainer(
        registry, store, clock, min_new_labels=2, interval_s=3600.0, min_interval_s=60.0
    )
    assert retrainer.due() is None  # the schedule starts counting now
    clock[0] += 3599
    assert retrainer.due() is None
    clock[0] += 2
    assert retrainer.due() == "schedule"
    store.set_state("last_run_at", repr(clock[0]))
    for i in range(2):
        label = Label.model_validate(
            {"asset_id": "p1", "ts": float(i), "values": {"x": 1.0}, "label": "normal", "operator": "k"}
        )
        store.add_label(label, Source("labels", 0, i))
    assert retrainer.due() is None  # too soon after the last run
    clock[0] += 61
    assert retrainer.due() == "labels"
    store.set_state("last_run_label_id", str(store.last_label_id()))
    assert retrainer.due() is None
    # Drift: the current model's scores of the sampled readings shift, one reading a minute (ADWIN
    # sees the median of each drift.bucket_s = 300 s).
    rng = np.random.default_rng(9)

    def minutely(rows: np.ndarray, t0: float) -> list[tuple[str, float, dict[str, float]]]:
        return [(a, t0 + 60.0 * i, v) for i, (a, _, v) in enumerate(_readings(rows, 0.0))]

    retrainer._watch_drift(minutely(normal(rng, 1500), 0.0))
    assert retrainer.due() is None
    retrainer._watch_drift(minutely(gross_outliers(rng, 1500), 90_000.0))
    assert retrainer.due() == "drift"
    # A run recorded while the clock ran three years fast, then corrected: runs resume once
    # min_interval_s has passed from now, not in three years.
    store.set_state("last_run_at", repr(clock[0] + 3 * 365 * 86_400.0))
    assert retrainer.due() is None and float(store.get_state("last_run_at")) == clock[0]
    clock[0] += 61
    assert retrainer.due() == "drift"


def test_the_first_run_on_labels_does_not_wait_min_interval_s_after_the_first_start(registry: Path) -> None:
    # Before: the schedule's start was stored as a last run, so labels that came in the first ten
    # minutes of a new retrainer (min_interval_s) waited for a run that had never happened.
    from pipeline.labels import Label
    from pipeline.labelstore import Source

    store, clock = LabelStore(":memory:"), [10_000.0]
    retrainer, _ = _retrainer(
        registry, store, clock, min_new_labels=2, interval_s=3600.0, min_interval_s=600.0
    )
    assert retrainer.due() is None  # nothing yet; the schedule counts from now
    for i in range(2):
        label = Label.model_validate(
            {"asset_id": "p1", "ts": float(i), "values": {"x": 1.0}, "label": "normal", "operator": "k"}
        )
        store.add_label(label, Source("labels", 0, i))
    clock[0] += 60
    assert retrainer.due() == "labels"
    store.set_state("last_run_at", repr(clock[0]))  # that run: the next waits min_interval_s
    store.set_state("last_run_label_id", str(store.last_label_id()))
    assert retrainer.due() is None


def test_runs_are_counted_by_outcome_with_their_timestamps(registry: Path) -> None:
    store = LabelStore(":memory:")
    clock = [10_000.0]
    retrainer, metrics = _retrainer(registry, store, clock, max_far_increase=1.0, max_recall_drop=1.0)
    store.add_readings(_readings(normal(np.random.default_rng(6), 600), 0.0), keep=10_000)
    before = time.time()
    result = retrainer.start_run("labels").result(timeout=60)
    retrainer._finish_run()
    assert result is not None and result.outcome == "promoted"
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "promoted"}) == 1
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "failed"}) == 0
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") >= before
    assert metrics.get_sample_value("dhag_retrain_last_run_timestamp_seconds") >= before
    assert metrics.get_sample_value("dhag_retrain_duration_seconds_count") == 1
    assert store.get_state("last_run_at") == repr(clock[0])
    retrainer._current_model()
    assert metrics.get_sample_value("dhag_registry_current_info", {"version": result.candidate}) == 1
    # A run that fails is counted as failed, without a success time.
    (registry / "current").write_text("missing\n")
    success = metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds")
    future = retrainer.start_run("schedule")
    assert future.exception(timeout=60) is not None
    assert metrics.get_sample_value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") == success
    failed_at = metrics.get_sample_value("dhag_retrain_last_failure_timestamp_seconds")
    assert failed_at > success
    retrainer._finish_run()
    # After a restart, the failure still outranks the last success (DhagRetrainingFailing stays on);
    # a retrainer that never failed exports 0.
    _, restarted = _retrainer(registry, store, clock)
    assert restarted.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") >= failed_at
    assert restarted.get_sample_value("dhag_retrain_last_success_timestamp_seconds") == pytest.approx(
        success, abs=1
    )
    _, fresh = _retrainer(registry, LabelStore(":memory:"), clock)
    assert fresh.get_sample_value("dhag_retrain_last_failure_timestamp_seconds") == 0


def test_the_normal_sample_skips_readings_the_daemon_dead_letters(registry: Path) -> None:
    from types import SimpleNamespace

    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0], normal_sample_every=1, on_drift=False)
    values = '"values": {"flow_a": 1.0, "flow_b": 1.0, "flow_total": 2.0, "vibration": 0.1}'
    raw = [f'{{"asset_id": "{asset}", "ts": 100, {values}}}'.encode() for asset in ("pump-1", "pump 1", "-x")]
    retrainer._readings([SimpleNamespace(value=v) for v in raw])
    # "pump 1" and "-x" break records.asset_id_pattern: the daemon scores neither, so neither is normal.
    assert [asset for asset, _, _ in store.normal_sample(margin_s=0)] == ["pump-1"]


def test_the_last_success_outlives_a_restart_and_counts_from_the_first_start_before_one(
    registry: Path, tmp_path: Path
) -> None:
    # Before, it lived in memory only: 0 after every restart, so DhagRetrainingStale could not see a
    # retrainer that kept failing after a restart, nor one that never succeeded.
    store, clock = LabelStore(tmp_path / "labels.sqlite"), [10_000.0]
    _, metrics = _retrainer(registry, store, clock)
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") == 10_000.0
    store.commit()
    clock[0] = 50_000.0  # restarted, still no success: it counts from the first start
    _, metrics = _retrainer(registry, store, clock, max_far_increase=1.0, max_recall_drop=1.0)
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") == 10_000.0
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") == 10_000.0
    retrainer, _ = _retrainer(registry, store, clock, max_far_increase=1.0, max_recall_drop=1.0)
    store.add_readings(_readings(normal(np.random.default_rng(6), 600), 0.0), keep=10_000)
    before = time.time()
    result = retrainer.start_run("labels").result(timeout=60)
    assert result is not None and result.outcome == "promoted"
    retrainer._finish_run()
    store.commit()
    _, metrics = _retrainer(registry, store, clock)  # restarted after a success
    assert metrics.get_sample_value("dhag_retrain_last_success_timestamp_seconds") >= before
    assert metrics.get_sample_value("dhag_retrain_last_promotion_timestamp_seconds") >= before
    assert metrics.get_sample_value("dhag_retrain_started_timestamp_seconds") >= before


def test_the_first_start_is_stored_even_when_the_retrainer_exits_at_once(
    registry: Path, tmp_path: Path
) -> None:
    # It was stored but not committed: a retrainer that exited at once (no current model) and was
    # restarted again and again stored a new first start each time, and never went stale.
    path = tmp_path / "labels.sqlite"
    store, clock = LabelStore(path), [10_000.0]
    _retrainer(registry, store, clock)  # no commit follows
    assert LabelStore(path).get_state("last_success_at") == repr(10_000.0)  # another connection sees it
