"""A candidate with too few unseen blocks to calibrate on is not calibrated on rejected alerts' copies."""

from __future__ import annotations

import numpy as np
from plant_data import FEATURES, gross_outliers, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
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
    assert candidate.target_far / 3 <= far <= 3 * candidate.target_far
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
