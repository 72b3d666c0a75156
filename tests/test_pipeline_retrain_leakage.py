"""What a candidate trains on never overlaps what judges it, and a labelled reading trains as its label
says: the samples against the labels, the holdout against the training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plant_data import FEATURES, gross_outliers, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from pipeline.labelstore import LabelledReading
from pipeline.retrain.cycle import run_cycle
from pipeline.retrain.judgement import judge
from pipeline.retrain.samples import TrainingData, split


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


def test_the_report_counts_the_rows_the_candidate_was_trained_on(registry: Path) -> None:
    # The report's ``data`` counts the parts of the split: confirmed anomalies left out for a sensor
    # their reading lacks, and rejected alerts past retrain.rejected_max_share, were counted there
    # as trained, and nothing in the report said what the candidate actually learned from.
    rng = np.random.default_rng(23)
    recent = _readings(normal(rng, 600), 0.0)
    confirmed = _labelled(gross_outliers(rng, 10), 1, 500.0)  # older than the held-out labels
    for r in confirmed[:3]:
        del r.values[FEATURES[0]]
    rejected = _labelled(normal(rng, 400), 0, 1_000.0, first_id=100)
    # Labels a second apart are distinct alerts here, not one fault (retrain.episode_margin_s).
    settings = SETTINGS.model_copy(update={"max_epochs": 2, "max_far_increase": 1.0, "episode_margin_s": 0.5})
    report = run_cycle(registry, confirmed + rejected, recent, settings).content
    data, trained = report["data"], report["trained"]
    assert data["confirmed_train"] == 10 and data["rejected_train"] == 277
    assert trained["confirmed"] == 7  # 3 lack flow_a
    assert trained["rejected_copies"] == 1 and 0 < trained["rejected"] < data["rejected_train"]
    assert trained["normal"] == data["normal_train"] and trained["reference"] == 0
    share = trained["rejected"] / (trained["normal"] + trained["rejected"])
    assert share <= settings.rejected_max_share


def test_a_rejected_alerts_reading_that_trains_neither_judges_nor_calibrates_the_candidate() -> None:
    # A rejected alert's episode returns to the normal sample, its opening reading with it when it was
    # sampled. That reading trained the candidate (rejected_weight copies) from the label, and was
    # held out or calibrated the threshold from the sample.
    recent = _readings(normal(np.random.default_rng(25), 1200), 0.0)
    rejected = [
        LabelledReading(f"alert:r{i}", f"r{i}", a, t, dict(v), 0, "kim", t, i + 1)
        for i, (a, t, v) in enumerate(recent[::37])
    ]
    data = split(rejected, recent, 0.3, block_s=50.0, margin_s=5.0)
    trained = {(r.asset_id, r.ts) for r in data.labelled_train}
    judged = data.normal_holdout + data.normal_calibration
    assert trained and not [r for r in judged if (r[0], r[1]) in trained]
    kept = split([], recent, 0.3, block_s=50.0)
    dropped = len(kept.normal_holdout) + len(kept.normal_calibration) - len(judged)
    # Only those readings and their neighbours within the margin (taughtmargin).
    near = [
        r
        for r in kept.normal_holdout + kept.normal_calibration
        if any(abs(r[1] - t) <= 5.0 for _, t in trained)
    ]
    assert 0 < dropped <= len(near)
