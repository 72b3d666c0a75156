"""What a candidate trains on never overlaps what judges it, and a labelled reading trains as its label
says: the samples against the labels, the holdout against the training."""

from __future__ import annotations

import numpy as np
from plant_data import normal
from retrain_data import SETTINGS, _readings

from dhag import DHAG
from pipeline.labelstore import LabelledReading
from pipeline.retrain.judgement import judge
from pipeline.retrain.samples import TrainingData


def _by_reading(reading: tuple, y: int, label_id: int) -> LabelledReading:
    asset, ts, values = reading
    return LabelledReading(f"reading:{asset}@{ts!r}", None, asset, ts, values, y, "kim", ts, label_id)


def _capture(seen: dict) -> object:
    def train(current: DHAG, data: TrainingData, settings: object) -> DHAG:
        seen["data"] = data
        return current

    return train


def test_a_reference_reading_confirmed_as_a_fault_since_is_no_normal_operation_any_more(fitted: DHAG) -> None:
    # The reference carries readings of earlier runs forward. One an operator confirmed as a fault
    # later (a fault no alert caught, or a rejected alert's answer changed) trained the candidate as
    # normal operation and as a known anomaly at once, judged it as a normal reading it flagged, and
    # was carried forward to every later version.
    rng = np.random.default_rng(21)
    reference = _readings(normal(rng, 900), 0.0)
    recent = _readings(normal(rng, 900), 10_000.0)
    trained_fault, held_fault = reference[100], reference[700]
    labelled = [_by_reading(trained_fault, 1, 1), _by_reading(held_fault, 1, 2)]
    settings = SETTINGS.model_copy(update={"episode_margin_s": 5.0, "holdout_block_s": 50.0})
    seen: dict = {}
    verdict = judge(fitted, labelled, recent, settings, reference=reference, train=_capture(seen))
    data = seen["data"]
    assert [r.ts for r in data.labelled_train] == [100.0] and [r.ts for r in data.labelled_holdout] == [700.0]
    parts = data.reference_train + data.reference_holdout + data.reference_calibration
    near = [r[1] for r in parts if any(abs(r[1] - t) <= 5.0 for t in (100.0, 700.0))]
    assert near == []
    assert len(parts) == 900 - 22  # only those: 11 readings around each fault
    assert not [r for r in verdict.reference if any(abs(r[1] - t) <= 5.0 for t in (100.0, 700.0))]
