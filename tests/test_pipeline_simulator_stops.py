"""A machine of the simulated plant can be stopped and started again (``Fleet.add_stop``): stopped, it
reads no speed, flow, power, current or pressure rise and hardly any vibration, and its temperatures cool
towards ambient with their thermal lags; started, it warms again from where it cooled to. The history
says which rows stood still and which ran cold; a stop is no fault. Without a stop, the plant reads
exactly as it always did."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from pipeline.simulator import Fleet
from pipeline.simulator.physics import PlantPhysics

STOP, START = 1800.0, 1800.0 + 2 * 3600.0


def _digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(repr(list(frame.columns)).encode())
    h.update(repr([str(d) for d in frame.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def test_without_a_stop_the_plant_reads_as_it_did() -> None:
    # The digest of this run as the simulator gave it before machines could be stopped.
    frame = Fleet(24, seed=0, run=0).run(3600, 10)
    assert "standstill" not in frame and "warming" not in frame
    assert _digest(frame) == "0b45802a61b711e061e6e2a7651224cbbf43cab073c78915c7cdbbffd8efd063"


@pytest.fixture(scope="module")
def runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four hours of three assets, the fan stopped for two of them; and the same run without the stop."""
    stopped = Fleet(3, seed=4, run=1)
    stopped.schedule(until=4 * 3600, rate_per_hour=0.5)
    stopped.add_stop("fan-01", STOP, START)
    running = Fleet(3, seed=4, run=1)
    running.schedule(until=4 * 3600, rate_per_hour=0.5)
    return stopped.run(4 * 3600, 30), running.run(4 * 3600, 30)


def _fan(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["asset_id"] == "fan-01"].set_index("t")


def test_a_stopped_machine_reads_no_load_and_is_no_fault(runs) -> None:
    stopped, running = runs
    fan, usual = _fan(stopped), _fan(running)
    still = fan.loc[STOP + 120 : START - 30]  # once run down (speed lag 8 s)
    still = still[still["fault"] == ""]  # a sensor fault drawn into the stop still shows
    assert len(still) > 100
    for sensor in ("speed_rpm", "flow_m3h", "motor_power_kw", "motor_current_a"):
        assert (still[sensor] == 0).all(), sensor
    rise = still["discharge_pressure_bar"] - still["suction_pressure_bar"]
    assert rise.abs().max() < 0.01
    assert still["vibration_mm_s"].max() < 0.1 * usual["vibration_mm_s"].min()
    # The truth: standstill exactly over the stop, never a fault.
    assert fan.index[fan["standstill"]].tolist() == [t for t in fan.index if STOP <= t < START]
    assert (stopped["fault"] == running["fault"]).all() and not fan.loc[fan["standstill"], "recovering"].any()
    # The other machines read exactly as without the stop.
    others = stopped["asset_id"] != "fan-01"
    columns = list(running.columns)
    pd.testing.assert_frame_equal(stopped.loc[others, columns], running.loc[others, columns])


def test_a_stopped_machine_cools_and_warms_with_its_thermal_lag(runs) -> None:
    stopped, running = runs
    fan, usual = _fan(stopped), _fan(running)
    tau = PlantPhysics.BEARING_TAU_S

    def excess(t: float) -> float:  # bearing over ambient
        return float(fan.loc[t, "bearing_temp_c"] - fan.loc[t, "ambient_temp_c"])

    # Cooling: one time constant into the stop, about e^-1 of the excess over ambient is left.
    assert 0.25 < excess(STOP + tau) / excess(STOP) < 0.5
    assert abs(excess(START - 30)) < 1.0  # two hours: at ambient
    winding = fan.loc[START - 30, "winding_temp_c"] - fan.loc[START - 30, "ambient_temp_c"]
    assert abs(winding) < 1.5
    # Warming: one time constant after the start, about e^-1 of the gap to the running bearing is left.
    gap = usual["bearing_temp_c"] - fan["bearing_temp_c"]
    assert 0.25 < gap[START + tau] / gap[START] < 0.5
    assert abs(gap.iloc[-1]) < 1.0  # warm again after two hours
    # The truth: warming from the start until warm, then not again.
    warming = fan.index[fan["warming"]]
    assert warming.min() == START and np.all(np.diff(warming) == 30.0)
    assert START + tau < warming.max() < START + 3600
    assert not fan.loc[:STOP, "warming"].any()


def test_a_stop_is_refused_naming_what_is_wrong() -> None:
    fleet = Fleet(3, seed=4)
    with pytest.raises(ValueError, match="asset_id must be one of .* got 'pump-09'"):
        fleet.add_stop("pump-09", 0, 60)
    with pytest.raises(ValueError, match="end_s after start_s, got 60, 60"):
        fleet.add_stop("pump-01", 60, 60)
    assert fleet.stops == []
