"""A plant model under ``records.missing_policy: impute``: a sensor a record lacks is stood in for by what
that asset reads at its operating point, not by the fleet's mean of the raw sensor (a fan's flow in
place of a pump's), which alone made the reading an anomaly."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.features import DERIVED_FEATURES, INPUT_SENSORS, PlantFeatures
from pipeline.metrics import PipelineMetrics
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")

# speed, flow, head, power, current, suction, vibration, bearing rise, winding rise
PUMP = [1500.0, 200.0, 5.0, 20.0, 40.0, 1.5, 2.0, 20.0, 25.0]
FAN = [700.0, 15_000.0, 0.1, 20.0, 40.0, 1.0, 1.7, 15.0, 18.0]
MEANS = dict(zip(INPUT_SENSORS, [1100.0, 7600.0, 1.25, 3.8, 40.0, 20.0, 1.85, 32.5, 36.5, 15.0], strict=True))


def _reading(ref: list[float], speed_pu: float, ambient: float) -> np.ndarray:
    """A reading on the affinity laws at ``speed_pu`` of the reference, in ``INPUT_SENSORS`` order."""
    speed, flow, head, power, current, suction, vibration, bearing, winding = ref
    values = {
        "speed_rpm": speed * speed_pu,
        "flow_m3h": flow * speed_pu,
        "suction_pressure_bar": suction,
        "discharge_pressure_bar": suction + head * speed_pu**2,
        "motor_current_a": current,
        "motor_power_kw": power * speed_pu**3,
        "vibration_mm_s": vibration,
        "bearing_temp_c": ambient + bearing,
        "winding_temp_c": ambient + winding,
        "ambient_temp_c": ambient,
    }
    return np.array([[values[name] for name in INPUT_SENSORS]])


@pytest.mark.parametrize("sensor", INPUT_SENSORS)
def test_a_missing_sensor_is_stood_in_for_by_the_assets_own_reading_at_its_speed(sensor: str) -> None:
    spec = PlantFeatures({"pump": PUMP, "fan": FAN}, MEANS)
    complete = _reading(PUMP, 0.8, ambient=22.0)
    missing = np.array([[name == sensor for name in INPUT_SENSORS]])
    parsed = np.where(missing, MEANS[sensor], complete)  # what the record parser fills in
    filled = spec.impute(parsed, ["pump"], missing)
    np.testing.assert_allclose(
        spec.transform(filled, ["pump"]), spec.transform(complete, ["pump"]), rtol=1e-9, atol=1e-12
    )
    assert (filled[~missing] == complete[~missing]).all()  # what the record carried is kept


def test_an_asset_without_a_reference_and_a_reading_lacking_every_sensor_get_typical_values() -> None:
    spec = PlantFeatures({"pump": PUMP, "fan": FAN}, MEANS)
    missing = np.ones((2, len(INPUT_SENSORS)), dtype=bool)
    raw = np.tile([MEANS[name] for name in INPUT_SENSORS], (2, 1))
    derived = spec.transform(spec.impute(raw, ["pump", "new-asset"], missing), ["pump", "new-asset"])
    assert np.isfinite(derived).all()
    by_name = dict(zip(DERIVED_FEATURES, derived[0].tolist(), strict=True))
    assert by_name["flow_pu"] == pytest.approx(1.0) and by_name["power_per_speed3"] == pytest.approx(1.0)


def test_a_plant_reading_missing_one_sensor_scores_about_as_the_whole_reading() -> None:
    history = Fleet(4, seed=11, run=0).run(3600, 10.0)
    model = train_plant_model(history, seed=0, max_epochs=3, time_budget=None)
    settings = Settings.model_validate(
        {"kafka": {"topics": {"scores": "scores"}}, "records": {"missing_policy": "impute"}}
    )
    proc = BatchProcessor(settings, model, "v1", PipelineMetrics(CollectorRegistry()))
    left_out = (None, "speed_rpm", "flow_m3h", "motor_power_kw", "discharge_pressure_bar", "ambient_temp_c")
    records = []
    for _, row in history[history.asset_id == "pump-01"].iloc[-100::10].iterrows():
        for sensor in left_out:
            values = {name: float(row[name]) for name in INPUT_SENSORS if name != sensor}
            raw = orjson.dumps({"asset_id": "pump-01", "ts": 1.0, "values": values})
            records.append(Rec("in", 0, len(records), b"pump-01", raw, -1, 0))
    out = proc.process(records, now=0.0)
    assert out.scored == len(records) and not out.dead_lettered
    scores = np.array([orjson.loads(m.value)["score"] for m in out.messages if m.topic == "scores"])
    scores = scores.reshape(-1, len(left_out))
    # Before, the fleet's mean flow, speed or power (the fan's and compressor's in it) stood in, and
    # every such reading of the pump scored 1.0.
    assert np.abs(scores[:, 1:] - scores[:, :1]).max() < 0.15
