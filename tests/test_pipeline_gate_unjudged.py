"""A candidate is promoted only on evidence: the split holds out part of every sample whatever the
holdout fraction, and the gate refuses a candidate it had nothing to compare on."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal
from retrain_data import _readings

from pipeline.retrain.samples import split


@pytest.mark.parametrize("fraction", [0.05, 0.07, 0.1, 0.3])
def test_a_small_holdout_fraction_still_holds_out_its_share_of_a_short_sample(fraction: float) -> None:
    # Ten hours at a reading every 30 s, cut into blocks of an hour: with a fraction under 1/13 every
    # k-th block lay past the sample's end, and nothing was held out to judge the candidate on.
    recent = [(a, 30.0 * t, v) for a, t, v in _readings(normal(np.random.default_rng(3), 1200), 0.0)]
    data = split([], recent, fraction, block_s=3600.0)
    assert len(data.normal_holdout) == pytest.approx(fraction * 1200, rel=0.35)
    assert data.normal_calibration and len(data.normal_train) >= len(recent) // 2

