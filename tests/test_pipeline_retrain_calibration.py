"""A candidate with too few unseen blocks to calibrate on is not calibrated on rejected alerts' copies."""

from __future__ import annotations

import numpy as np
from plant_data import FEATURES, gross_outliers, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from dhag.params import target_far
from pipeline.retrain.samples import TrainingData
from pipeline.retrain.training import train_candidate


def test_a_short_calibration_holds_out_distinct_normal_readings_not_rejected_copies(fitted: DHAG) -> None:
    # With fewer calibration readings than min_normal_rows / 10 the threshold came from fit's random
    # slice, about a quarter of it copies of the rejected alerts' readings (rejected_weight each):
    # their scores set it, and the candidate flagged no fresh normal reading and 1 % of gross faults.
    rng = np.random.default_rng(5)
    recent = _readings(normal(rng, 600), 0.0)
    rejected = _labelled(gross_outliers(rng, 40), 0, 1000.0)
    calibration = _readings(normal(rng, 5), 2000.0)
    data = TrainingData(rejected, [], recent, [], calibration)
    candidate = train_candidate(fitted, data, SETTINGS)
    fresh = normal(rng, 20_000)
    far = float((candidate.decision_function(fresh) > candidate.threshold_).mean())
    assert target_far(candidate) / 3 <= far <= 3 * target_far(candidate)
    assert float(candidate.predict(gross_outliers(rng, 2000)).mean()) > 0.5
    record = candidate.training_["calibration"]
    assert record["source"] == "unseen blocks and training rows" and record["rows"] == 5 + 60
    trained = candidate.training_["trained"]
    assert trained["normal"] == 540 and trained["rejected"] == 40  # the 60 held out did not train
    assert list(candidate.feature_names_in_) == FEATURES


def test_enough_unseen_blocks_calibrate_alone(fitted: DHAG) -> None:
    rng = np.random.default_rng(6)
    recent = _readings(normal(rng, 600), 0.0)
    data = TrainingData([], [], recent, [], _readings(normal(rng, 200), 2000.0))
    candidate = train_candidate(fitted, data, SETTINGS)
    assert candidate.training_["calibration"]["source"] == "unseen blocks"
    assert candidate.training_["calibration"]["rows"] == 200
    assert candidate.training_["trained"]["normal"] == 600


def test_calibration_readings_the_parent_cannot_score_do_not_count_towards_enough(fitted: DHAG) -> None:
    # Fifteen calibration readings, ten of them near float32's limit (the daemon dead-letters them):
    # enough by count, so no training reading was held out. The candidate scored those ten 1.0 and its
    # threshold recalibrated on them was 1.0: the run failed, and every run while they were sampled.
    # Had it been unable to score them, fit's own threshold (rejected alerts' copies) stood.
    from plant_data import near_float32_limit

    rng = np.random.default_rng(5)
    recent = _readings(normal(rng, 600), 0.0)
    rejected = _labelled(gross_outliers(rng, 40), 0, 1000.0)
    bad, _ = near_float32_limit(fitted)
    calibration = _readings(np.vstack([normal(rng, 5), np.repeat(bad[None, :], 10, axis=0)]), 2000.0)
    data = TrainingData(rejected, [], recent, [], calibration)
    candidate = train_candidate(fitted, data, SETTINGS)
    record = candidate.training_["calibration"]
    assert record["source"] == "unseen blocks and training rows"
    assert record["rows"] == 5 + 60 and record["unscored"] == 10
    fresh = normal(rng, 20_000)
    far = float((candidate.decision_function(fresh) > candidate.threshold_).mean())
    assert target_far(candidate) / 3 <= far <= 3 * target_far(candidate)


def test_too_few_calibration_readings_the_candidate_scores_fail_the_run_not_keep_fits_threshold(
    fitted: DHAG,
) -> None:
    # Fit's own threshold stood, silently, from a random slice holding the rejected alerts' copies.
    import pytest
    from plant_data import near_float32_limit

    from dhag import TrainingError
    from pipeline.retrain.training import _recalibrate

    bad, _ = near_float32_limit(fitted)
    X_cal = np.vstack([normal(np.random.default_rng(7), 5), np.repeat(bad[None, :], 10, axis=0)])
    with pytest.raises(TrainingError, match=r"scores 5 of 15 calibration readings, fewer than .* \(10\)"):
        _recalibrate(fitted, X_cal, SETTINGS)


def test_a_parent_given_contamination_has_its_candidate_flag_that_share(train_rows: np.ndarray) -> None:
    # The candidate was recalibrated at target_far's 0.01 whatever its parent was given: a model fitted
    # to flag 10 % of normal operation was replaced by one that flagged 0.3 %, its settings still
    # saying contamination=0.1.
    rng = np.random.default_rng(8)
    parent = DHAG(max_epochs=15, batch_size=128, feature_names=FEATURES, random_state=0, contamination=0.1)
    parent.fit(train_rows)
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 200), 2000.0))
    candidate = train_candidate(parent, data, SETTINGS)
    assert candidate.contamination == 0.1 and candidate.target_far is None
    fresh = normal(rng, 20_000)
    for model in (parent, candidate):
        assert 0.05 <= float((model.decision_function(fresh) > model.threshold_).mean()) <= 0.2


def _calibration_notes(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and "calibrated on" in r.getMessage()
    ]


def test_fits_own_slice_which_sets_no_threshold_is_not_warned_about(fitted: DHAG, caplog) -> None:
    # Every run warned "the threshold was calibrated on 60 held-out normal rows ... several times the
    # target" of fit's own random slice, whose threshold the recalibration replaces: here by one from
    # 1000 unseen normal readings, ten expected false alarms at target_far 0.01, as dhag asks.
    rng = np.random.default_rng(9)
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 1000), 2000.0))
    with caplog.at_level("INFO"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert candidate.training_["calibration"]["rows"] == 1000
    assert _calibration_notes(caplog) == []


def test_a_threshold_from_few_unseen_readings_is_warned_about_with_their_number(fitted: DHAG, caplog) -> None:
    rng = np.random.default_rng(10)
    data = TrainingData([], [], _readings(normal(rng, 600), 0.0), [], _readings(normal(rng, 200), 2000.0))
    with caplog.at_level("INFO"):
        candidate = train_candidate(fitted, data, SETTINGS)
    assert candidate.training_["calibration"]["rows"] == 200
    (said,) = _calibration_notes(caplog)
    assert said.startswith(
        "the candidate's threshold was calibrated on 200 unseen normal readings: at target_far 0.01 that "
        "is 2 expected false alarms"
    )


def test_where_fits_threshold_stands_dhags_note_on_it_is_said(train_rows: np.ndarray, caplog) -> None:
    # Too few spare readings carry every sensor to recalibrate on: fit's own threshold is kept, and
    # what dhag says of its slice is true of the candidate.
    parent = DHAG(
        max_epochs=5, batch_size=128, feature_names=FEATURES, random_state=0, validation_fraction=0.02
    )
    parent.fit(train_rows)
    recent = _readings(normal(np.random.default_rng(11), 600), 0.0)
    for _, _, values in recent[::2]:
        del values["vibration"]
    caplog.clear()  # the parent's own fit said it of its own slice
    with caplog.at_level("INFO"):
        candidate = train_candidate(parent, TrainingData([], [], recent, [], []), SETTINGS)
    assert candidate.training_["calibration"]["source"] == "validation"  # fit's own, not recalibrated
    (said,) = _calibration_notes(caplog)
    assert said.startswith("the threshold was calibrated on ") and "held-out normal rows" in said
