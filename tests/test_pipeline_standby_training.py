"""A candidate's training with a standby machine in its samples: the readings at standstill, which it
leaves out, do not count among the normal rows that bound the rejected alerts' share."""

from __future__ import annotations

from test_pipeline_standby_gate import readings_of, standby_fleet

from dhag import DHAG
from pipeline.config import RetrainSettings
from pipeline.labelstore import LabelledReading
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.samples import TrainingData
from pipeline.retrain.training import train_candidate


def test_rejected_alerts_stay_within_their_share_of_the_running_readings(plant_model: DHAG) -> None:
    normal = readings_of(standby_fleet(1).run(2 * 3600, 10.0))
    running = FeatureMap.of(plant_model).running(normal)
    assert len(running) < 0.8 * len(normal)
    rejected = [
        LabelledReading(f"k{i}", f"a{i}", asset, ts + 10_000.0, values, 0, "kim", 0.0, i)
        for i, (asset, ts, values) in enumerate(running[::17][:100])
    ]
    settings = RetrainSettings(
        device="cpu", max_epochs=1, time_budget_s=30, min_normal_rows=100, seed=0, rejected_max_share=0.25
    )
    calibration = readings_of(standby_fleet(2).run(1800, 10.0), 20_000.0)
    data = TrainingData(rejected, [], normal, [], normal_calibration=calibration)
    trained = train_candidate(plant_model, data, settings).training_["trained"]
    copies = trained["rejected"] * trained["rejected_copies"]
    assert trained["normal"] == len(running)
    assert copies / (trained["normal"] + copies) <= 0.25


def test_labels_of_readings_at_standstill_train_nothing_and_are_said(plant_model: DHAG, caplog) -> None:
    # Before the daemon judged a stop normal, every planned stop opened an alert, which operators
    # rejected: those labels share rejected_max_share with the ones that train.
    normal = readings_of(standby_fleet(1).run(2 * 3600, 10.0))
    fmap = FeatureMap.of(plant_model)
    running = fmap.running(normal)
    stopped = [r for r in normal if r not in running]
    labels = [
        LabelledReading(f"k{i}", f"a{i}", asset, ts + 10_000.0, values, y, "kim", 0.0, i)
        for i, ((asset, ts, values), y) in enumerate(
            [(r, 0) for r in running[:: len(running) // 100][:100]]
            + [(r, 0) for r in stopped[:100]]
            + [(stopped[-1], 1)]
        )
    ]
    settings = RetrainSettings(
        device="cpu", max_epochs=1, time_budget_s=30, min_normal_rows=100, seed=0, rejected_max_share=0.25
    )
    calibration = readings_of(standby_fleet(2).run(1800, 10.0), 20_000.0)
    data = TrainingData(labels, [], normal, [], normal_calibration=calibration)
    with caplog.at_level("INFO", logger="pipeline.retrain.training"):
        trained = train_candidate(plant_model, data, settings).training_["trained"]
    # The 100 rejected alerts taken running get the copies their share allows (561 // 100), not 2.
    assert (trained["rejected"], trained["rejected_copies"], trained["confirmed"]) == (100, 5, 0)
    said = caplog.text
    assert "100 rejected label(s) left out of training: their readings were taken at standstill" in said
    assert "1 confirmed label(s) left out of training: their readings were taken at standstill" in said
    assert "lack a sensor" not in said
