"""What a plant model's training history covered: each asset's own training ranges, kept with the model,
renewed by the retrainer, and the range the daemon holds each reading to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG
from pipeline.config import RecordSettings, RetrainSettings
from pipeline.features import DERIVED_FEATURES, FEATURE_MEANINGS, INPUT_SENSORS, METADATA_KEY, PlantFeatures
from pipeline.hotswap import bind_model
from pipeline.retrain import split, train_candidate
from pipeline.simulator import Fleet


def _derived(frame: pd.DataFrame, model: DHAG) -> np.ndarray:
    features = PlantFeatures.from_model(model)
    assert features is not None
    return features.transform(frame[list(INPUT_SENSORS)].to_numpy(float), frame["asset_id"].tolist())


def test_each_asset_keeps_the_range_of_its_own_training_rows(
    history: pd.DataFrame, plant_model: DHAG
) -> None:
    features = PlantFeatures.from_model(plant_model)
    assert features is not None and sorted(features.ranges) == sorted(history["asset_id"].unique())
    X = _derived(history, plant_model)
    for asset, pairs in features.ranges.items():
        own = X[(history["asset_id"] == asset).to_numpy()]
        np.testing.assert_allclose(np.array(pairs), np.column_stack([own.min(axis=0), own.max(axis=0)]))
    # The fleet-wide range of the model spans every asset's own.
    wide = np.array([plant_model.preprocessor_.ranges_[name] for name in DERIVED_FEATURES])
    for pairs in features.ranges.values():
        assert (np.array(pairs)[:, 0] >= wide[:, 0] - 1e-12).all()
        assert (np.array(pairs)[:, 1] <= wide[:, 1] + 1e-12).all()
    # Kept through the metadata round trip; a spec written before it was kept loads without ranges.
    spec = features.to_metadata()
    assert PlantFeatures.from_metadata(spec).ranges == features.ranges
    assert PlantFeatures.from_metadata({k: v for k, v in spec.items() if k != "ranges"}).ranges == {}


def test_a_range_that_does_not_fit_the_features_is_refused(plant_model: DHAG) -> None:
    spec = plant_model.metadata_[METADATA_KEY]
    asset = sorted(spec["ranges"])[0]
    for bad in (spec["ranges"][asset][:-1], [[1.0, 0.0]] * len(DERIVED_FEATURES)):
        with pytest.raises(ValueError, match=f"ranges of asset '{asset}'"):
            PlantFeatures.from_metadata(spec | {"ranges": {asset: bad}})


def test_a_reading_is_held_to_its_own_assets_range_and_an_unknown_asset_to_the_fleets(
    plant_model: DHAG,
) -> None:
    active = bind_model(plant_model, "v1", RecordSettings())
    spec = PlantFeatures.from_model(plant_model)
    assert spec is not None
    ranges = {asset: np.array(pairs) for asset, pairs in spec.ranges.items()}
    wide = np.array([plant_model.preprocessor_.ranges_[name] for name in DERIVED_FEATURES])
    low, high = active.training_ranges(["pump-01", "somewhere-else"])
    np.testing.assert_array_equal(np.vstack([low[0], high[0]]).T, ranges["pump-01"])
    np.testing.assert_array_equal(np.vstack([low[1], high[1]]).T, wide)
    # A value inside the fleet's range but above everything the pump itself did in training.
    col = int(np.argmax(wide[:, 1] - ranges["pump-01"][:, 1]))
    assert wide[col, 1] > ranges["pump-01"][col, 1]
    row = ranges["pump-01"].mean(axis=1)
    row[col] = (ranges["pump-01"][col, 1] + wide[col, 1]) / 2
    flags = active.outside_training_range(np.vstack([row, row]), ["pump-01", "somewhere-else"])
    assert flags.tolist() == [True, False]
    inside = ranges["pump-01"].mean(axis=1)
    assert active.outside_training_range(inside[None, :], ["pump-01"]).tolist() == [False]


def test_a_retrained_candidate_renews_the_ranges_from_its_own_normal_rows(
    history: pd.DataFrame, plant_model: DHAG
) -> None:
    recent = Fleet(3, seed=11, run=1).run(2 * 3600, 10.0)
    readings = [
        (asset, float(t), {s: float(row[s]) for s in INPUT_SENSORS})
        for asset, t, (_, row) in zip(recent["asset_id"], recent["t"], recent.iterrows(), strict=True)
    ]
    settings = RetrainSettings(device="cpu", max_epochs=2, time_budget_s=30, min_normal_rows=100, seed=0)
    data = split([], readings, 0.2)
    child = train_candidate(plant_model, data, settings)
    renewed = PlantFeatures.from_model(child)
    assert renewed is not None
    trained_on = data.normal_train
    frame = pd.DataFrame([v for _, _, v in trained_on], columns=list(INPUT_SENSORS))
    frame["asset_id"] = [a for a, _, _ in trained_on]
    X = renewed.transform(frame[list(INPUT_SENSORS)].to_numpy(float), frame["asset_id"].tolist())
    for asset, pairs in renewed.ranges.items():
        own = X[(frame["asset_id"] == asset).to_numpy()]
        np.testing.assert_allclose(np.array(pairs), np.column_stack([own.min(axis=0), own.max(axis=0)]))
    assert renewed.ranges != PlantFeatures.from_model(plant_model).ranges


def test_an_alerts_derived_features_say_what_they_mean_and_which_sensors_they_come_from(
    plant_model: DHAG,
) -> None:
    assert sorted(FEATURE_MEANINGS) == sorted(DERIVED_FEATURES)
    assert all(set(raw) <= set(INPUT_SENSORS) and raw for _, raw in FEATURE_MEANINGS.values())
    active = bind_model(plant_model, "v1", RecordSettings())
    spec = PlantFeatures.from_model(plant_model)
    assert spec is not None
    row = np.array(spec.ranges["pump-01"]).mean(axis=1)
    row[DERIVED_FEATURES.index("head_pu")] = -5.0  # far below anything the pump did
    (head, ratio) = active.top_sensors([("head_pu", 0.4), ("efficiency_ratio", 0.1)], row, "pump-01")
    assert head["from_sensors"] == ["discharge_pressure_bar", "suction_pressure_bar"]
    assert "pressure rise" in head["meaning"] and head["outside_training_range"] == "below"
    assert ratio["outside_training_range"] is None and "motor_power_kw" in ratio["from_sensors"]
