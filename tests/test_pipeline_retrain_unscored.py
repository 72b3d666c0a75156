"""The retrainer's recalibrated threshold: one no score can exceed fails the run with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal
from retrain_data import SETTINGS, _readings

from dhag import DHAG, TrainingError
from pipeline.retrain import train_candidate
from pipeline.retrain.samples import TrainingData


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
