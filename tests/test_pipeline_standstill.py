"""A machine at standstill (its speed and its power both under a tenth of its usual) is not a fault: a
plant model sees every per-unit feature at 0, far outside training, and scored it 1.0, so every planned
stop of a pump opened an alert (and paged as ``DhagAssetAnomalous``) for as long as it stood still."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.features import DERIVED_FEATURES, INPUT_SENSORS, PlantFeatures
from pipeline.metrics import PipelineMetrics
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.retrain.featuremap import FeatureMap
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")


def _stopped(values: dict[str, float]) -> dict[str, float]:
    """``values`` of a running machine as they read once it stopped: no speed, flow, power or current,
    no pressure rise, a little vibration from its neighbours; its temperatures cool slowly."""
    return values | {
        "speed_rpm": 0.0,
        "flow_m3h": 0.0,
        "motor_power_kw": 0.0,
        "motor_current_a": 0.0,
        "vibration_mm_s": 0.1,
        "discharge_pressure_bar": values["suction_pressure_bar"],
    }


def _feed(proc: BatchProcessor, fleet: Fleet, minutes: int, stop: str | None, start: int) -> list[dict]:
    events, offset = [], start
    for _ in range(minutes * 6):
        t, readings = fleet.step(10.0)
        batch = []
        for asset, values in fleet.records(readings):
            values = _stopped(values) if asset == stop else values
            value = orjson.dumps({"asset_id": asset, "ts": 1.7e9 + t, "values": values})
            batch.append(Rec("in", 0, offset, asset.encode(), value, None, None))
            offset += 1
        out = proc.process(batch, now=t)
        events += [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    return events


def _run(plant_model, stop: bool) -> tuple[list[dict], CollectorRegistry, BatchProcessor, Fleet]:
    settings = Settings.model_validate({"alerts": {"open_after": 2, "window": 3, "resolve_after": 3}})
    registry = CollectorRegistry()
    proc = BatchProcessor(settings, plant_model, "v1", PipelineMetrics(registry))
    fleet = Fleet(3, seed=11, run=1)
    assert _feed(proc, fleet, 5, None, 0) == []  # the plant runs as in training: no alert
    events = _feed(proc, fleet, 10, fleet.asset_ids[0] if stop else None, 10_000)
    return events, registry, proc, fleet


def test_a_stopped_machine_opens_no_alert_and_is_counted(history, plant_model) -> None:
    events, registry, proc, fleet = _run(plant_model, stop=True)
    assert events == [], [(e["asset_id"], e["state"]) for e in events]
    assert registry.get_sample_value("dhag_readings_standstill_total") == 10 * 6
    # What the model makes of the stopped machine's readings: far off, were they judged.
    stopped = fleet.asset_ids[0]
    _, readings = fleet.step(10.0)
    values = _stopped(dict(fleet.records(readings))[stopped])
    derived = proc.derived.transform(np.array([[values[name] for name in INPUT_SENSORS]]), [stopped])
    assert float(proc.active.score(derived)[0][0]) > proc.threshold
    assert proc.derived.standstill(derived).tolist() == [True]
    # Nor does it count among the readings beyond the training range (which warn of a plant run
    # outside it): no more of them than with the machine running.
    _, running, _, _ = _run(plant_model, stop=False)
    outside = "dhag_readings_outside_training_range_total"
    assert registry.get_sample_value(outside) <= running.get_sample_value(outside)
    assert running.get_sample_value("dhag_readings_standstill_total") == 0


def test_standstill_needs_both_speed_and_power_near_zero() -> None:
    # A speed sensor that fails to 0 on a machine still drawing its power is a fault to see, not a stop.
    spec = PlantFeatures({"p": [1500.0, 200.0, 5.0, 20.0, 40.0, 1.5, 2.0, 20.0, 25.0]}, {})
    speed, power = DERIVED_FEATURES.index("speed_pu"), DERIVED_FEATURES.index("power_pu")
    rows = np.ones((4, len(DERIVED_FEATURES)))
    rows[0, [speed, power]] = 0.0  # stopped
    rows[1, speed] = 0.0  # speed reads 0, power as usual
    rows[2, power] = 0.05  # power low, speed as usual (an idle fan's damper closed)
    rows[3, [speed, power]] = np.nan  # not known: judged as usual
    assert spec.standstill(rows).tolist() == [True, False, False, False]


def test_a_motor_switched_off_is_stopping_while_its_machine_runs_down() -> None:
    # Its power and current are 0 at once, its speed falls through the speed lag: before, such readings
    # were judged running, every per-unit feature but speed far outside training and the efficiency
    # ratio without bound, and a stop's run-down opened an alert (the demo with --stop showed it).
    spec = PlantFeatures({"p": [1500.0, 200.0, 5.0, 20.0, 40.0, 1.5, 2.0, 20.0, 25.0]}, {})
    speed, power, current = (DERIVED_FEATURES.index(f"{n}_pu") for n in ("speed", "power", "current"))
    rows = np.ones((4, len(DERIVED_FEATURES)))
    rows[0, [power, current]] = 0.0  # switched off, still at speed
    rows[1, power] = 0.0  # a power meter reading 0 on a running motor: its current reads on
    rows[2, current] = 0.02  # a current sensor reading 0, power drawn
    rows[3, [power, current]] = [0.05, 0.3]  # idling at low power: its no-load current
    assert spec.standstill(rows).tolist() == [True, False, False, False]


def test_a_stop_opens_no_alert_while_the_machine_runs_down(plant_model) -> None:
    # The simulated plant's stop, read every 2 s as the demo reads it: the motor off at once, the speed
    # running down for some 20 s. Before, its run-down opened an alert on every stop.
    settings = Settings.model_validate({"alerts": {"open_after": 2, "window": 3, "resolve_after": 3}})
    registry = CollectorRegistry()
    proc = BatchProcessor(settings, plant_model, "v1", PipelineMetrics(registry))
    fleet = Fleet(3, seed=11, run=1)
    stopped = fleet.asset_ids[1]
    fleet.add_stop(stopped, fleet.t + 120.0, fleet.t + 1e6)
    events, offset = [], 0
    for _ in range(300):
        t, readings = fleet.step(2.0)
        batch = []
        for asset, values in fleet.records(readings):
            value = orjson.dumps({"asset_id": asset, "ts": 1.7e9 + t, "values": values})
            batch.append(Rec("in", 0, offset, asset.encode(), value, None, None))
            offset += 1
        events += [
            orjson.loads(m.value) for m in proc.process(batch, now=t).messages if m.topic == "anomaly-alerts"
        ]
    assert [e["asset_id"] for e in events if e["state"] == "open"] == []
    assert registry.get_sample_value("dhag_readings_standstill_total") > 200


def test_the_retrainer_leaves_a_machine_at_standstill_out_of_its_model_input(plant_model) -> None:
    # Judged normal by the daemon, a stop opens no episode, so its readings reach the normal sample:
    # trained on, or calibrating the threshold at a score of 1.0, they would spoil the candidate.
    fleet = Fleet(3, seed=11, run=1)
    _, readings = fleet.step(10.0)
    rows = fleet.records(readings)
    rows.append((rows[0][0], _stopped(rows[0][1])))
    X, kept = FeatureMap.of(plant_model).matrix(rows)
    assert kept.tolist() == [True, True, True, False] and X.shape[0] == 3


def test_a_first_model_leaves_the_standstill_rows_of_its_history_out(history) -> None:
    # A history with a stop in it: a fifth of one asset's rows at standstill (its median still runs).
    asset = history["asset_id"].iloc[0]
    rows = history[history["asset_id"] == asset].tail(len(history) // 15)
    stopped = pd.DataFrame([_stopped(dict(r)) for r in rows[list(INPUT_SENSORS)].to_dict("records")])
    stopped = stopped.assign(asset_id=asset, t=rows["t"].to_numpy() + 1e5)
    model = train_plant_model(pd.concat([history, stopped]), seed=0, max_epochs=1, time_budget=None)
    assert model.metadata_["rows"] == len(history)
    spec = PlantFeatures.from_model(model)
    low = spec.ranges[asset][DERIVED_FEATURES.index("speed_pu")][0]
    assert low > 0.5  # its training range is the running machine's


def test_a_new_assets_reference_leaves_its_standstill_readings_out(plant_model) -> None:
    # An asset the model has no reference for, stopped for 3 of every 5 sampled readings: the median of
    # all of them was 0 (every reading of it then divided by 0), and with 2 of 5 stopped it was low.
    fleet = Fleet(4, seed=11, run=1)
    new = fleet.asset_ids[3]
    fmap = FeatureMap.of(plant_model)
    assert new not in fmap.derived.references
    sample, running = [], []
    for i in range(100):
        t, readings = fleet.step(10.0)
        values = dict(fleet.records(readings))[new]
        running.append(values)
        sample.append((new, t, _stopped(values) if i % 5 < 3 else values))
    extended = fmap.extended(sample)
    ran = pd.DataFrame(running[3::5] + running[4::5], columns=list(INPUT_SENSORS)).assign(asset_id=new)
    assert extended.derived.references[new] == PlantFeatures.fit(ran).references[new]
    assert fmap.referenced(sample) == {*fmap.derived.references, new}
    X, kept = extended.matrix([(a, v) for a, _, v in sample])
    assert kept.tolist() == [i % 5 >= 3 for i in range(100)]  # its stops left out of the candidate's input
    assert np.isfinite(X).all() and 0.8 < np.median(X[:, DERIVED_FEATURES.index("speed_pu")]) < 1.2
    # Stopped in every reading sampled: no reference to take (it stays scaled by the fleet's).
    stopped = [(a, t, _stopped(v)) for a, t, v in sample]
    assert new not in fmap.extended(stopped).derived.references and new not in fmap.referenced(stopped)


def _stop_the_start_of(history: pd.DataFrame, asset: str, share: float) -> pd.DataFrame:
    """``history`` with ``asset`` stopped over the first ``share`` of its rows (a standby pump)."""
    rows = history.index[history["asset_id"] == asset]
    stopped = rows[: int(share * len(rows))]
    cols = list(INPUT_SENSORS)
    values = [_stopped(r) for r in history.loc[stopped, cols].to_dict("records")]
    history = history.astype(dict.fromkeys(cols, float))
    history.loc[stopped, cols] = pd.DataFrame(values, index=stopped, columns=cols)
    return history


def test_a_machine_stopped_most_of_its_history_trains_on_its_running_rows(history, caplog) -> None:
    # A standby pump, stopped over 60 % of the history: its median speed and power were 0, and the
    # first training was refused ("the median of speed_rpm over its history is 0").
    asset = history["asset_id"].iloc[0]
    standby = _stop_the_start_of(history, asset, 0.6)
    ran = standby[(standby["asset_id"] == asset) & (standby["speed_rpm"] > 0)]
    model = train_plant_model(standby, seed=0, max_epochs=1, time_budget=None)
    spec = PlantFeatures.from_model(model)
    assert spec.references[asset] == PlantFeatures.fit(ran).references[asset]
    assert model.metadata_["rows"] == (history["asset_id"] != asset).sum() + len(ran)
    assert spec.ranges[asset][DERIVED_FEATURES.index("speed_pu")][0] > 0.5  # it learned the machine running


def test_a_machine_that_never_ran_is_left_out_of_the_first_training_named(history, caplog) -> None:
    idle = history["asset_id"].iloc[0]
    standby = _stop_the_start_of(history, idle, 1.0)
    model = train_plant_model(standby, seed=0, max_epochs=1, time_budget=None)
    spec = PlantFeatures.from_model(model)
    assert idle not in spec.references and idle not in spec.ranges
    assert set(spec.references) == set(history["asset_id"]) - {idle}
    assert model.metadata_["rows"] == (history["asset_id"] != idle).sum()
    said = [r.getMessage() for r in caplog.records if "never ran" in r.getMessage()]
    assert said and idle in said[0] and "fleet's median" in said[0]


def test_a_history_in_which_no_machine_ran_is_refused() -> None:
    fleet = Fleet(2, seed=11, run=0)
    stopped = [
        {"asset_id": a, "t": float(i)} | _stopped(v)
        for i in range(30)
        for a, v in fleet.records(fleet.step(10.0)[1])
    ]
    with pytest.raises(ValueError, match="no asset of the history ever ran"):
        train_plant_model(pd.DataFrame(stopped), seed=0, max_epochs=1, time_budget=None)
