"""Readings a model cannot score (its network overflows on values near float32's limit) in the
retrainer's calibration and holdout: left out and counted, not the end of every run; and a threshold
recalibrated to 1.0 fails the run with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plant_data import FEATURES, gross_outliers, near_float32_limit, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG, InputError, TrainingError
from pipeline.retrain import judge, run_cycle, split, train_candidate
from pipeline.retrain.samples import TrainingData
from pipeline.retrain.unscorable import scores_of


def _refuses(model: DHAG, row: np.ndarray) -> bool:
    try:
        model.decision_function(row[None, :])
    except InputError:
        return True
    return False


def test_a_recalibrated_threshold_no_score_can_exceed_fails_the_run_with_its_reason(fitted: DHAG) -> None:
    # The unseen calibration blocks lie far from the rows the candidate trained on: it scores every one
    # of them 1.0, and the threshold recalibrated on them was 1.0, a candidate that flags nothing,
    # which only the gate's probes stood between and the daemons.
    rng = np.random.default_rng(3)
    data = TrainingData(
        [], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 100) + 1e3, 1000.0)
    )
    with pytest.raises(
        TrainingError,
        match=r"recalibrated on 100 unseen normal readings: .*no score above its threshold \(1\.0\)",
    ):
        train_candidate(fitted, data, SETTINGS)


def test_a_calibration_reading_the_candidate_overflows_on_is_left_out_and_counted(
    fitted: DHAG, caplog
) -> None:
    # One reading near float32's limit among the calibration blocks: scoring it raised InputError,
    # which failed the run, and every later run while the reading stayed in the normal sample.
    rng = np.random.default_rng(3)
    bad, _ = near_float32_limit(fitted)
    calibration = normal(rng, 100)
    data = TrainingData(
        [], [], _readings(normal(rng, 600), 0.0), [], _readings(np.vstack([calibration, bad]), 1000.0)
    )
    with caplog.at_level("WARNING", logger="pipeline.retrain.training"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert _refuses(candidate, bad)
    assert candidate.threshold_ == candidate.threshold_for(candidate.decision_function(calibration))
    record = candidate.training_["calibration"]
    assert record["rows"] == 100 and record["unscored"] == 1 and record["source"] == "unseen blocks"
    assert "1 of 101 calibration readings left out of the candidate's threshold" in caplog.text


def test_scores_of_gives_nan_for_the_rows_a_model_refuses_and_scores_the_rest(fitted: DHAG) -> None:
    bad, _ = near_float32_limit(fitted)
    rows = normal(np.random.default_rng(4), 5)
    scores = scores_of(fitted, np.vstack([rows[:2], bad, rows[2:]]))
    np.testing.assert_array_equal(np.isnan(scores), [False, False, True, False, False, False])
    np.testing.assert_allclose(scores[[0, 1, 3, 4, 5]], fitted.decision_function(rows), rtol=0, atol=0)
    assert scores_of(fitted, np.zeros((0, 4))).shape == (0,)


class _Counting:
    """A model whose decision_function calls are counted."""

    def __init__(self, model: DHAG) -> None:
        self.model, self.calls = model, 0
        self.feature_names_in_ = model.feature_names_in_  # scores_of names the columns by them

    def decision_function(self, X: Any) -> np.ndarray:
        self.calls += 1
        return self.model.decision_function(X)


def test_scores_of_leaves_several_refused_rows_out_and_scores_the_rest_together(fitted: DHAG) -> None:
    # Refused rows at both ends and side by side: NaN there, and the others scored exactly as one
    # call on them alone scores them (float32 results can depend on the batch).
    bad, _ = near_float32_limit(fitted)
    rows = normal(np.random.default_rng(5), 300)
    X = np.repeat(rows[:1], 307, axis=0)
    refused = np.zeros(307, dtype=bool)
    refused[[0, 41, 42, 43, 150, 305, 306]] = True
    X[refused] = bad
    X[~refused] = rows
    scores = scores_of(fitted, X)
    np.testing.assert_array_equal(np.isnan(scores), refused)
    np.testing.assert_array_equal(scores[~refused], fitted.decision_function(rows))


def test_scores_of_finds_a_few_refused_rows_among_many_in_few_calls(fitted: DHAG) -> None:
    # One call per row took 47 times as long as one call on 20,000 rows with one refused.
    bad, _ = near_float32_limit(fitted)
    X = normal(np.random.default_rng(6), 20_000)
    X[[7_000, 12_345]] = bad
    model = _Counting(fitted)
    scores = scores_of(model, X)  # type: ignore[arg-type]
    assert np.flatnonzero(np.isnan(scores)).tolist() == [7_000, 12_345]
    assert model.calls <= 2 * (np.ceil(np.log2(20_000)) + 1) + 2  # was one call per row
    model.calls = 0
    scores_of(model, X[:5_000])  # type: ignore[arg-type]
    assert model.calls == 1


def test_a_held_out_label_neither_model_can_score_is_left_out_of_the_gate_and_reported(
    registry: Path, fitted: DHAG, caplog
) -> None:
    # A confirmed anomaly whose reading is near float32's limit, the newest label: held out, scoring it
    # failed the run, and every run after while it stayed among the newest labels.
    rng = np.random.default_rng(2)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    bad, _ = near_float32_limit(fitted)
    labelled = _labelled(np.vstack([gross_outliers(rng, 30), bad]), 1, 5.0)
    settings = SETTINGS.model_copy(update={"episode_margin_s": 0.5})  # labels a second apart: 31 faults
    with caplog.at_level("WARNING", logger="pipeline.retrain.judgement"):
        result = run_cycle(registry, labelled, normal_rows, settings)
    report = result.content
    held = report["data"]["confirmed_holdout"]
    assert held == round(0.3 * 31)
    current, candidate = report["metrics"]["current"], report["metrics"]["candidate"]
    # Both models overflow on it: both are judged on the other held-out confirmations.
    assert report["holdout_unscored"] == {"current": {"confirmed": 1}, "candidate": {"confirmed": 1}}
    assert current["confirmed"] == candidate["confirmed"] == held - 1
    assert current["unscorable"] == candidate["unscorable"] == 0
    assert report["calibration_unscored"] == 0
    assert not any("cannot score" in reason for reason in report["reasons"])  # judged on the rest
    assert "1 held-out reading(s) left out of the gate: the current model cannot score 1 (confirmed 1)" in (
        caplog.text
    )
    assert json.loads(result.report.read_text())["holdout_unscored"] == report["holdout_unscored"]


def test_a_candidate_that_cannot_score_a_reading_the_current_model_scores_is_refused(
    fitted: DHAG, caplog
) -> None:
    # The daemon dead-letters a reading its model cannot score: promoted, such a candidate would drop
    # readings the current model judges (here a confirmed fault). The reading is left out of both
    # models' metrics, and the candidate is refused for it.
    rng = np.random.default_rng(2)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    confirmed = gross_outliers(rng, 30)
    candidate = train_candidate(fitted, split(_labelled(confirmed, 1, 5.0), normal_rows, 0.3), SETTINGS)
    pre = fitted.preprocessor_
    draw = np.random.default_rng(2)
    z = draw.choice([-1.0, 1.0], size=(2000, 4)) * draw.uniform(0.05, 1.0, size=(2000, 4))
    huge = np.column_stack(
        [pre.means_[n] + z[:, i] * 3.4e38 * pre.scales_[n] for i, n in enumerate(FEATURES)]
    )
    row = next(r for r in huge if not _refuses(fitted, r) and _refuses(candidate, r))
    labelled = _labelled(np.vstack([confirmed, row]), 1, 5.0)
    with caplog.at_level("WARNING", logger="pipeline.retrain.judgement"):
        verdict = judge(fitted, labelled, normal_rows, SETTINGS, train=lambda *_: candidate)
    assert verdict.holdout_unscored == {"current": {}, "candidate": {"confirmed": 1}}
    assert verdict.candidate_metrics["unscorable"] == 1 and verdict.current_metrics["unscorable"] == 0
    held = sum(r.y == 1 for r in verdict.data.labelled_holdout)
    assert verdict.current_metrics["confirmed"] == verdict.candidate_metrics["confirmed"] == held - 1
    assert not verdict.accepted
    assert (
        "candidate cannot score 1 held-out reading(s) that the current model scores: the daemon would "
        "dead-letter them" in verdict.reasons
    )


def test_training_readings_the_current_model_cannot_score_are_left_out_of_training_and_counted(
    fitted: DHAG, caplog
) -> None:
    # A confirmed anomaly near float32's limit among the training labels diverged the candidate's fit
    # ("weight tensors are not finite"), and since labels are kept, every later run: retraining stopped
    # for good.
    rng = np.random.default_rng(3)
    bad, _ = near_float32_limit(fitted)
    assert _refuses(fitted, bad)
    data = TrainingData(
        _labelled(np.vstack([gross_outliers(rng, 20), bad]), 1, 5.0),
        [],
        _readings(normal(rng, 600), 0.0),
        [],
        _readings(normal(rng, 100), 1000.0),
    )
    with caplog.at_level("WARNING", logger="pipeline.retrain.training"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert candidate.training_["unscored"] == {"confirmed": 1}
    assert candidate.metadata_["rows"] == 600 + 20
    assert (
        "1 training reading(s) left out of the candidate's training: the current model cannot score them "
        "(confirmed 1)" in caplog.text
    )


def test_sampled_normal_readings_the_current_model_cannot_score_are_left_out_of_training(
    fitted: DHAG,
) -> None:
    # One such reading in the recent sample, one in the reference sample and a rejected alert's (its
    # copies join the normal rows): the candidate trained on them, standardised by a spread they
    # inflated to ~1e37, which squeezes all of normal operation into a point.
    rng = np.random.default_rng(3)
    bad, _ = near_float32_limit(fitted)
    recent, carried = normal(rng, 400), normal(rng, 300)
    data = TrainingData(
        _labelled(bad[None, :], 0, 30.0),
        [],
        _readings(np.vstack([recent[:200], bad, recent[200:]]), 0.0),
        [],
        _readings(normal(rng, 100), 1000.0),
        reference_train=_readings(np.vstack([bad, carried]), -5000.0),
    )
    candidate = train_candidate(fitted, data, SETTINGS)
    # Standardised by the normal operation it trained on, and by nothing else.
    pre = candidate.preprocessor_
    rows = np.vstack([carried, recent])
    for i, name in enumerate(FEATURES):
        assert pre.scales_[name] == pytest.approx(rows[:, i].std(), rel=1e-6)
    assert candidate.metadata_["rows"] == 700
    assert candidate.training_["unscored"] == {"reference": 1, "normal": 1, "rejected": 1}


def test_a_training_reading_the_current_model_scores_but_the_candidate_cannot_train_on_is_left_out(
    fitted: DHAG, caplog
) -> None:
    # The current model scores this reading near float32's limit, so it stays in training: the
    # candidate's fit diverges on it. Labels are kept, so that failed every later run too; the fit is
    # now tried once more without it, and the reading counted.
    rng = np.random.default_rng(3)
    _, (scored, _) = near_float32_limit(fitted)
    assert not _refuses(fitted, scored)
    data = TrainingData(
        _labelled(np.vstack([gross_outliers(rng, 20), scored]), 1, 5.0),
        [],
        _readings(normal(rng, 600), 0.0),
        [],
        _readings(normal(rng, 100), 1000.0),
    )
    with caplog.at_level("WARNING", logger="pipeline.retrain.training"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert candidate.training_["unscored"] == {"near_limit": 1}
    assert candidate.metadata_["rows"] == 620
    assert "trained again without 1 training reading(s) (confirmed 1)" in caplog.text
    assert "near float32's limit" in caplog.text


def test_a_fit_that_fails_without_the_readings_near_float32s_limit_too_fails_the_run_naming_them(
    fitted: DHAG, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    _, (scored, _) = near_float32_limit(fitted)
    data = TrainingData(
        _labelled(np.vstack([gross_outliers(rng, 20), scored]), 1, 5.0),
        [],
        _readings(normal(rng, 600), 0.0),
        [],
        _readings(normal(rng, 100), 1000.0),
    )
    fits: list[int] = []

    def diverging_fit(self: DHAG, X: np.ndarray, y: np.ndarray, **kwargs: object) -> DHAG:
        fits.append(len(X))
        raise TrainingError("weight tensors are not finite")

    monkeypatch.setattr(DHAG, "fit", diverging_fit)
    with pytest.raises(
        TrainingError,
        match=r"likely cause: 1 training reading\(s\) \(confirmed 1\) hold values near float32's limit "
        r"\(up to \S+ median absolute deviations.*; "
        r"trained again without them: weight tensors are not finite",
    ):
        train_candidate(fitted, data, SETTINGS)
    assert fits == [621, 620]


def test_the_run_report_counts_the_training_readings_left_out(registry: Path, fitted: DHAG) -> None:
    # The oldest label (so it is trained on, not held out) is a confirmed anomaly near float32's limit.
    rng = np.random.default_rng(2)
    bad, _ = near_float32_limit(fitted)
    labelled = _labelled(np.vstack([bad, gross_outliers(rng, 30)]), 1, 5.0)
    settings = SETTINGS.model_copy(update={"episode_margin_s": 0.5})  # labels a second apart: 31 faults
    result = run_cycle(registry, labelled, _readings(normal(rng, 1500), 0.0), settings)
    assert result.content["training_unscored"] == {"confirmed": 1}
    assert result.content["holdout_unscored"] == {"current": {}, "candidate": {}}
    assert json.loads(result.report.read_text())["training_unscored"] == {"confirmed": 1}
