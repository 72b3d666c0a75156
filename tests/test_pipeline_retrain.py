"""The retrainer's training, gate and registry run (no broker): promote better, reject worse, report."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, fault_cluster, gross_outliers, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from pipeline import registry as reg
from pipeline.config import RetrainSettings
from pipeline.labelstore import LabelStore
from pipeline.retrain import NotEnoughDataError, evaluate, run_cycle, split, train_candidate


def test_a_candidate_that_learned_the_confirmed_fault_is_promoted_with_its_metadata(registry: Path) -> None:
    rng = np.random.default_rng(1)
    normal_rows = _readings(normal(rng, 3000), 0.0)
    # The fault cluster sits inside every sensor's normal range: unsupervised, the model misses much of it.
    cluster = fault_cluster(rng, 60)
    labelled = _labelled(cluster, 1, 10.0) + _labelled(normal(rng, 20), 0, 12.0, first_id=100)
    settings = SETTINGS.model_copy(update={"max_far_increase": 0.02})
    result = run_cycle(registry, labelled, normal_rows, settings, trigger="labels")
    report = json.loads(result.report.read_text())
    current, candidate = report["metrics"]["current"], report["metrics"]["candidate"]
    assert candidate["recall"] > current["recall"] + 0.2, report
    assert result.outcome == "promoted" and report["decision"] == "promoted"
    assert reg.current(registry)[0] == result.candidate
    assert result.report == registry / f"{result.candidate}.report.json"
    info = reg.describe(registry, result.candidate)
    assert info.parent == "v1" and info.created is not None
    # 120 normal readings lie within episode_margin_s of a held-out label and train no model.
    assert info.label_counts == {"confirmed": 60, "rejected": 20, "normal_readings": 2880}
    assert info.training_window == {"start": 0.0, "end": 2999.0}
    assert info.validation["recall"] == candidate["recall"]
    assert info.validation["current_recall"] == current["recall"]
    data = report["data"]
    assert data["confirmed_holdout"] == 24 and data["rejected_holdout"] == 0
    # Interleaved blocks: about a third held out, a sixth calibrates the threshold, the rest trains.
    assert data["normal_train"] + data["normal_holdout"] + data["normal_calibration"] == 2880
    assert 900 <= data["normal_holdout"] <= 1100 and 400 <= data["normal_calibration"] <= 600
    assert report["trigger"] == "labels" and report["parent"] == "v1"


def test_a_deliberately_worse_candidate_is_rejected_and_the_current_model_kept(registry: Path) -> None:
    rng = np.random.default_rng(2)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    labelled = _labelled(gross_outliers(rng, 40), 1, 5.0)

    def blind(current: DHAG, data, settings: RetrainSettings) -> DHAG:
        model = train_candidate(current, data, settings)
        model.threshold_ = 1.0  # flags nothing
        return model

    result = run_cycle(registry, labelled, normal_rows, SETTINGS, train=blind)
    report = json.loads(result.report.read_text())
    assert result.outcome == "rejected" and report["decision"] == "rejected"
    assert reg.current(registry)[0] == "v1"
    assert report["metrics"]["current"]["recall"] > 0.5
    assert report["metrics"]["candidate"]["recall"] == 0.0
    assert any(reason.startswith("recall 0.000 < current") for reason in report["reasons"])
    # The candidate stays in the registry for inspection, not current.
    assert reg.describe(registry, result.candidate).is_current is False


@pytest.mark.parametrize("labels", ["none", "one confirmed", "rejected only"])
def test_a_candidate_that_flags_nothing_is_rejected_with_no_confirmed_anomaly_held_out(
    registry: Path, labels: str
) -> None:
    # A drift or schedule run often has no labels. Before, only the false-alarm checks were left, and a
    # candidate flagging nothing passes those: it was promoted.
    rng = np.random.default_rng(2)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    labelled = {
        "none": [],
        "one confirmed": _labelled(gross_outliers(rng, 1), 1, 5.0),
        "rejected only": _labelled(normal(rng, 10), 0, 5.0),
    }[labels]

    def blind(current: DHAG, data, settings: RetrainSettings) -> DHAG:
        model = train_candidate(current, data, settings)
        model.threshold_ = 1.0
        return model

    result = run_cycle(registry, labelled, normal_rows, SETTINGS, train=blind)
    report = json.loads(result.report.read_text())
    current, candidate = report["metrics"]["current"], report["metrics"]["candidate"]
    assert candidate["confirmed"] == 0 and candidate["recall"] is None
    assert result.outcome == "rejected" and reg.current(registry)[0] == "v1"
    assert current["probe_recall"] > 0.9 and candidate["probe_recall"] == 0.0
    assert candidate["probes"] == current["probes"] >= 100
    assert any(reason.startswith("probe_recall 0.000 < current") for reason in report["reasons"])
    # An honest candidate of the same run passes the probes: they refuse a blind model, not retraining.
    honest = run_cycle(registry, labelled, normal_rows, SETTINGS).content
    assert honest["metrics"]["candidate"]["probe_recall"] > 0.9
    assert not any(reason.startswith("probe_recall") for reason in honest["reasons"])


def test_rejected_alerts_join_the_normal_set_and_lower_their_scores(fitted: DHAG) -> None:
    rng = np.random.default_rng(3)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    false_alarm = np.array([[2.5, -2.5, 0.0, 3.0]])  # a rare but normal operating point, flagged
    assert fitted.decision_function(false_alarm)[0] > fitted.threshold_
    rejected = _labelled(np.repeat(false_alarm, 10, axis=0) + 0.01 * rng.normal(size=(10, 4)), 0, 1.0)
    data = split(rejected, normal_rows, 0.2)
    without = train_candidate(fitted, split([], normal_rows, 0.2), SETTINGS)
    with_rejected = train_candidate(fitted, data, SETTINGS.model_copy(update={"rejected_weight": 30}))
    gap = lambda m: float(m.decision_function(false_alarm)[0] - m.threshold_)  # noqa: E731
    assert gap(with_rejected) < gap(without)
    assert evaluate(with_rejected, data)["false_alarm_rate"] is not None


def test_confirmed_anomalies_that_cannot_train_are_named_in_the_log(fitted: DHAG, caplog) -> None:
    # A confirmation of an alert opened on an imputed reading lacks that sensor: its row was left out
    # of training while the run report counted it as confirmed, and nothing said so.
    rng = np.random.default_rng(8)
    confirmed = _labelled(gross_outliers(rng, 6), 1, 2.0)
    for r in confirmed[:2]:
        del r.values[FEATURES[0]]
    data = split(confirmed, _readings(normal(rng, 600), 0.0), 0.2)
    with caplog.at_level("WARNING", logger="pipeline.retrain.training"):
        train_candidate(fitted, data, SETTINGS.model_copy(update={"max_epochs": 2}))
    trained = sum(r.y == 1 for r in data.labelled_train)  # the newest are held out to judge
    assert f"2 of {trained} confirmed anomalies left out of training" in caplog.text
    assert "1-0, 1-1" in caplog.text


def test_too_little_normal_data_trains_nothing(registry: Path) -> None:
    normal_rows = _readings(normal(np.random.default_rng(4), 50), 0.0)
    with pytest.raises(NotEnoughDataError, match="min_normal_rows"):
        run_cycle(registry, [], normal_rows, SETTINGS)
    assert [i.version for i in reg.list_models(registry)] == ["v1"]


def test_candidate_metadata_keeps_the_plant_spec_but_not_the_parents_registry_fields(fitted: DHAG) -> None:
    parent = copy.deepcopy(fitted)
    parent.metadata_ = {"fleet": {"seed": 1}, "version": "v1", "validation": {"recall": 1.0}}
    data = split([], _readings(normal(np.random.default_rng(5), 400), 0.0), 0.3)
    child = train_candidate(parent, data, SETTINGS)
    assert child.metadata_["fleet"] == {"seed": 1}
    assert "version" not in child.metadata_ and "validation" not in child.metadata_
    assert list(child.feature_names_in_) == FEATURES


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


def test_a_candidate_keeps_its_parents_minimum_threshold(fitted: DHAG) -> None:
    rng = np.random.default_rng(5)
    parent = copy.deepcopy(fitted)
    parent.min_threshold = 0.95
    data = split(_labelled(fault_cluster(rng, 20), 1, 10_100.0), _readings(normal(rng, 1500), 10_000.0), 0.3)
    candidate = train_candidate(parent, data, SETTINGS)
    assert candidate.min_threshold == 0.95 and candidate.threshold_ >= 0.95


def test_a_candidate_repeats_the_training_rules_its_parent_was_kept_with(fitted: DHAG) -> None:
    parent = copy.deepcopy(fitted)
    parent.training_ = parent.training_ | {
        "attempts": [
            {"ce_target": None, "shift_weight": 0.0, "ce_vs_constant": 1.0, "collapsed": True},
            {"ce_target": 0.9, "shift_weight": 1.0, "ce_vs_constant": 0.9, "collapsed": False},
        ]
    }
    data = split([], _readings(normal(np.random.default_rng(8), 400), 0.0), 0.3)
    child = train_candidate(parent, data, SETTINGS)
    assert (child.ce_target, child.shift_weight) == (0.9, 1.0)
    (attempt,) = child.training_["attempts"]  # trained with the rules at once, not after a collapse
    assert (attempt["ce_target"], attempt["shift_weight"]) == (0.9, 1.0)
    # ... and so does its own child, whose single attempt already had them.
    grandchild = train_candidate(child, data, SETTINGS)
    assert (grandchild.ce_target, grandchild.shift_weight) == (0.9, 1.0)
    # A parent kept with the paper's objective leaves the candidate to the library's defaults.
    plain = copy.deepcopy(fitted)
    plain.training_ = plain.training_ | {"attempts": [{"ce_target": None, "shift_weight": 0.0}]}
    assert (train_candidate(plain, data, SETTINGS).ce_target, fitted.ce_target) == (None, None)


def test_an_ensemble_parent_gets_an_ensemble_candidate_within_the_same_time_budget(train_rows) -> None:
    parent = DHAG(n_members=2, max_epochs=3, batch_size=128, feature_names=FEATURES, random_state=0)
    parent.fit(train_rows)
    data = split([], _readings(normal(np.random.default_rng(9), 600), 0.0), 0.3)
    settings = SETTINGS.model_copy(update={"time_budget_s": 2.0, "max_epochs": 10_000})
    child = train_candidate(parent, data, settings)
    assert child.n_members == 2 and [m["seed"] for m in child.training_["members"]] == [0, 1000]
    # The budget covers both networks: each stops at its share of what is left.
    assert all(m["stopped_by"] == "time_budget" for m in child.training_["members"])
    assert child.training_["train_seconds"] < 3.5


def test_a_snapshot_parent_gets_a_snapshot_candidate(train_rows) -> None:
    parent = DHAG(snapshots=3, max_epochs=6, batch_size=128, feature_names=FEATURES, random_state=0)
    parent.fit(train_rows)
    data = split([], _readings(normal(np.random.default_rng(9), 600), 0.0), 0.3)
    settings = SETTINGS.model_copy(update={"max_epochs": 6})
    child = train_candidate(parent, data, settings)
    assert child.snapshots == 3 and len(child.training_["snapshot_epochs"]) == 3
    assert child.member_scores(normal(np.random.default_rng(10), 4)).shape == (3, 4)


def test_a_rollback_during_a_run_stands_over_the_candidate(registry: Path, fitted: DHAG) -> None:
    # The candidate is judged against v2; an operator rolls back to v1 while it trains. Promoting it
    # now would undo the rollback with a model never compared with v1.
    reg.publish(registry, fitted, "v2")
    rng = np.random.default_rng(1)
    normal_rows = _readings(normal(rng, 3000), 0.0)
    labelled = _labelled(fault_cluster(rng, 60), 1, 10.0) + _labelled(normal(rng, 20), 0, 12.0, first_id=100)

    def train_during_rollback(current: DHAG, data, settings: RetrainSettings) -> DHAG:  # noqa: ANN001
        assert reg.rollback(registry) == ("v2", "v1")
        return train_candidate(current, data, settings)

    settings = SETTINGS.model_copy(update={"max_far_increase": 0.02})
    result = run_cycle(registry, labelled, normal_rows, settings, train=train_during_rollback)
    report = json.loads(result.report.read_text())
    assert result.parent == "v2" and result.outcome == "rejected" and report["decision"] == "rejected"
    assert report["reasons"] == [
        f"not promoting {result.candidate!r}: it was judged against 'v2', but 'v1' is current now"
    ]
    assert reg.current(registry)[0] == "v1"
    # Without the rollback the same run promotes (the candidate itself was good).
    assert run_cycle(registry, labelled, normal_rows, settings).outcome == "promoted"


def test_the_normal_sample_skips_readings_the_daemon_dead_letters(registry: Path) -> None:
    from types import SimpleNamespace

    store = LabelStore(":memory:")
    retrainer, _ = _retrainer(registry, store, [10_000.0], normal_sample_every=1, on_drift=False)
    values = '"values": {"flow_a": 1.0, "flow_b": 1.0, "flow_total": 2.0, "vibration": 0.1}'
    raw = [f'{{"asset_id": "{asset}", "ts": 100, {values}}}'.encode() for asset in ("pump-1", "pump 1", "-x")]
    retrainer._readings([SimpleNamespace(value=v) for v in raw])
    # "pump 1" and "-x" break records.asset_id_pattern: the daemon scores neither, so neither is normal.
    assert [asset for asset, _, _ in store.normal_sample(margin_s=0)] == ["pump-1"]


def test_a_reading_with_a_sensor_json_could_not_hold_is_left_out_not_fatal(fitted: DHAG) -> None:
    # An alert carries a sensor value JSON cannot hold (an integer past 64 bits, imputed) as null; once
    # labelled, every later run raised TypeError on it.
    from pipeline.retrain.featuremap import FeatureMap

    fmap = FeatureMap.of(fitted)
    good = dict(zip(FEATURES, map(float, normal(np.random.default_rng(0), 1)[0]), strict=True))
    X, kept = fmap.matrix([("p1", good), ("p1", good | {FEATURES[0]: None})])
    assert kept.tolist() == [True, False] and X.shape == (1, len(FEATURES))


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


def test_a_metric_that_is_not_a_number_is_written_as_null(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.dumps wrote NaN as the bare word NaN, which no strict JSON reader takes; and the artifact,
    # whose metadata holds the validation metrics, refused to be saved.
    import dataclasses

    from pipeline.retrain import cycle

    judge = cycle.judge

    def judge_with_nan(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        verdict = judge(*args, **kwargs)
        metrics = verdict.candidate_metrics | {
            "recall": float("nan"),
            "detail": {"scores": [float("inf"), 0.5, -float("inf")], "far": np.float64("nan")},
            # numpy's own scalars: np.float32 is no float, np.int64 no JSON number at all
            "numpy": {"far": np.float32("inf"), "n": np.int64(4), "share": np.float32(0.25)},
        }
        return dataclasses.replace(verdict, candidate_metrics=metrics)

    monkeypatch.setattr(cycle, "judge", judge_with_nan)
    rng = np.random.default_rng(1)
    labelled = _labelled(fault_cluster(rng, 60), 1, 10.0)
    result = run_cycle(registry, labelled, _readings(normal(rng, 3000), 0.0), SETTINGS)

    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")

    report = json.loads(result.report.read_text(), parse_constant=refuse)
    candidate = report["metrics"]["candidate"]
    assert candidate["recall"] is None
    assert candidate["detail"] == {"scores": [None, 0.5, None], "far": None}
    assert candidate["numpy"] == {"far": None, "n": 4, "share": 0.25}
    assert isinstance(candidate["threshold"], float)
    validation = reg.describe(registry, result.candidate).validation
    assert "recall" not in validation and validation["threshold"] == candidate["threshold"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float32("nan"), None),
        (np.float32("inf"), None),
        (np.float16("-inf"), None),
        (np.float64("nan"), None),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7),
        (np.uint8(255), 255),
        (np.bool_(True), True),
        (np.array([1.5, np.nan], dtype=np.float32), [1.5, None]),
        ({"n": np.int64(3), "runs": (np.float32("inf"), [np.int32(-1)])}, {"n": 3, "runs": [None, [-1]]}),
    ],
)
def test_the_report_guard_turns_numpy_scalars_into_strict_json(value: object, expected: object) -> None:
    # np.float32 is no float subclass: its NaN passed the guard and json.dumps wrote NaN (or refused,
    # with allow_nan=False); np.int64 and np.bool_ are no JSON numbers at all and json.dumps raised.
    from pipeline.retrain.cycle import finite

    out = finite(value)
    assert out == expected
    assert json.loads(json.dumps(out, allow_nan=False)) == expected
    if expected is not None and not isinstance(expected, list | dict):
        assert type(out) is type(expected)  # a plain Python number, not the numpy one


def test_the_version_metadata_keeps_finite_numpy_metrics_and_drops_the_rest() -> None:
    from pipeline.retrain.cycle import _flat

    metrics = {
        "recall": np.float32(0.75),
        "n": np.int64(12),
        "far": np.float32("nan"),
        "worst": np.float64("-inf"),
        "note": "text",
        "detail": {"x": 1.0},
    }
    flat = _flat(metrics)
    assert flat == {"recall": 0.75, "n": 12.0}
    assert all(type(v) is float for v in flat.values())
    json.dumps(flat, allow_nan=False)
