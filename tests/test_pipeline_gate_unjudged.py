"""A candidate is promoted only on evidence: the split holds out part of every sample whatever the
holdout fraction, and the gate refuses a candidate it had nothing to compare on."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal
from retrain_data import _readings

from pipeline.config import RetrainSettings
from pipeline.retrain.gate import gate
from pipeline.retrain.samples import split


@pytest.mark.parametrize("fraction", [0.05, 0.07, 0.1, 0.3])
def test_a_small_holdout_fraction_still_holds_out_its_share_of_a_short_sample(fraction: float) -> None:
    # Ten hours at a reading every 30 s, cut into blocks of an hour: with a fraction under 1/13 every
    # k-th block lay past the sample's end, and nothing was held out to judge the candidate on.
    recent = [(a, 30.0 * t, v) for a, t, v in _readings(normal(np.random.default_rng(3), 1200), 0.0)]
    data = split([], recent, fraction, block_s=3600.0)
    assert len(data.normal_holdout) == pytest.approx(fraction * 1200, rel=0.35)
    assert data.normal_calibration and len(data.normal_train) >= len(recent) // 2


def test_the_gate_refuses_a_candidate_it_had_nothing_to_compare_on() -> None:
    # No labels held out, no normal reading both models could score: every metric None. The candidate
    # was accepted with "no metric worse than the current model's".
    empty = {
        "recall": None,
        "false_alarm_rate": None,
        "normal_far": None,
        "reference_far": None,
        "probe_recall": None,
        "confirmed": 0,
        "rejected": 0,
        "normal": 0,
        "reference": 0,
        "probes": 0,
        "unscorable": 0,
    }
    accepted, reasons = gate(empty, dict(empty), RetrainSettings())
    assert not accepted
    assert reasons == [
        "nothing held out to judge the candidate on: no held-out label, normal reading or gross-fault "
        "probe that both models score"
    ]
    # One part compared is evidence: the gate judges on it.
    assert gate(
        empty | {"false_alarm_rate": 0.5, "rejected": 2}, empty | {"false_alarm_rate": 0.0}, RetrainSettings()
    ) == (True, [])
