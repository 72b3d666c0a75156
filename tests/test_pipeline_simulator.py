"""The simulated plant: physics relations on normal data, what each fault changes, determinism, history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.features import DERIVED_FEATURES, INPUT_SENSORS, PlantFeatures
from pipeline.scoreboard import Scoreboard
from pipeline.simulator import FAULT_KINDS, Fleet
from pipeline.simulator.faults import Fault, applicable_kinds
from pipeline.simulator.physics import CORE_SENSORS

INTERVAL = 5.0


@pytest.fixture(scope="module")
def normal() -> pd.DataFrame:
    """Six simulated hours of normal operation of six assets (all three machine types)."""
    return Fleet(6, seed=3, run=0).run(6 * 3600, INTERVAL)


def _pump_with(kind: str, *, sensor: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One pump for an hour: (normal stretch, fault stretch) of the same run, fault at full severity."""
    fleet = Fleet(1, types=("pump",), seed=5, run=1)
    fleet.faults = [Fault(0, "pump-01", kind, 1800.0, 1800.0, 1.0, sensor)]
    frame = fleet.run(3600, INTERVAL)
    # The fault's second half: gradual faults have reached full severity by then.
    return frame[frame["t"] < 1800], frame[(frame["t"] >= 2700) & (frame["t"] < 3600)]


def test_sensors_follow_the_affinity_laws_within_noise(normal: pd.DataFrame) -> None:
    derived = PlantFeatures.fit(normal).transform(
        normal[list(INPUT_SENSORS)].to_numpy(float), normal["asset_id"].tolist()
    )
    col = dict(zip(DERIVED_FEATURES, derived.T, strict=True))
    # flow ~ speed: flow/speed stays within the valve's few percent while speed moves +-15 %.
    assert col["speed_pu"].std() > 0.05
    assert col["flow_per_speed"].std() < 0.05
    # head ~ speed^2 and power ~ speed^3 at a given valve; hydraulic/shaft power constant within noise.
    assert np.corrcoef(col["head_pu"], col["speed_pu"] ** 2)[0, 1] > 0.95
    assert np.corrcoef(col["power_pu"], col["speed_pu"] ** 3)[0, 1] > 0.95
    assert col["efficiency_ratio"].std() < 0.02
    # Temperatures follow load with a lag: correlated with it, but not at once.
    pump = normal[normal["asset_id"] == "pump-01"]
    rise = (pump["winding_temp_c"] - pump["ambient_temp_c"]).to_numpy()
    load = pump["motor_current_a"] ** 2
    lagged = load.ewm(alpha=1 - np.exp(-INTERVAL / 900.0)).mean().to_numpy()
    instant = np.corrcoef(rise, load.to_numpy())[0, 1]
    assert np.corrcoef(rise, lagged)[0, 1] > max(0.9, instant + 0.1)


def test_readings_are_quantised_and_noisy(normal: pd.DataFrame) -> None:
    speed = normal["speed_rpm"].to_numpy()
    assert np.allclose(speed, np.round(speed))
    temps = normal["bearing_temp_c"].to_numpy()
    assert np.allclose(temps * 10, np.round(temps * 10))
    assert normal.groupby("asset_id")["flow_m3h"].apply(lambda s: s.diff().abs().gt(0).mean()).min() > 0.9


def test_machine_types_report_their_own_sensors(normal: pd.DataFrame) -> None:
    fleet = Fleet(3, seed=0)
    _, readings = fleet.step(1.0)
    sensors = {asset: set(values) for asset, values in fleet.records(readings)}
    for asset in fleet.asset_ids:
        assert set(CORE_SENSORS) <= sensors[asset]
        assert 10 <= len(sensors[asset]) <= 16
    assert "discharge_temp_c" in sensors["compressor-01"] and "discharge_temp_c" not in sensors["pump-01"]


@pytest.mark.parametrize(
    ("kind", "sensor", "expect"),
    [
        ("bearing_wear", None, {"vibration_mm_s": 1.5, "bearing_temp_c": 1.15}),
        ("cavitation", None, {"suction_pressure_bar": 0.85, "flow_m3h": 0.93, "vibration_mm_s": 1.3}),
        ("seal_leak", None, {"flow_m3h": 0.93, "motor_power_kw": 1.03}),
        ("motor_overload", None, {"motor_power_kw": 1.2, "motor_current_a": 1.15, "winding_temp_c": 1.1}),
        ("efficiency_loss", None, {"motor_power_kw": 1.05}),
        ("sensor_drift", "flow_m3h", {"flow_m3h": 1.03}),
    ],
)
def test_each_fault_changes_what_it_should(kind: str, sensor: str | None, expect: dict[str, float]) -> None:
    before, during = _pump_with(kind, sensor=sensor)
    speed_ratio = during["speed_rpm"].mean() / before["speed_rpm"].mean()
    for name, factor in expect.items():
        # Compare at the same operating point: scale by the affinity-law share of the speed change.
        exponent = {"flow_m3h": 1, "motor_power_kw": 3, "motor_current_a": 2}.get(name, 0)
        ratio = during[name].mean() / before[name].mean() / speed_ratio**exponent
        if factor > 1:
            assert ratio > factor, (name, ratio)
        else:
            assert ratio < factor, (name, ratio)


def test_sensor_stuck_and_spikes() -> None:
    _, stuck = _pump_with("sensor_stuck", sensor="flow_m3h")
    assert stuck["flow_m3h"].nunique() == 1 and stuck["speed_rpm"].nunique() > 10
    before, spikes = _pump_with("sensor_spikes", sensor="motor_power_kw")
    jumps = spikes["motor_power_kw"].pct_change().abs()
    assert (jumps > 0.2).mean() > 0.3 and (before["motor_power_kw"].pct_change().abs() > 0.2).mean() == 0


def test_the_in_range_fault_stays_inside_every_sensors_normal_range() -> None:
    fleet = Fleet(1, types=("pump",), seed=5, run=0)
    history = fleet.run(24 * 3600, 30.0)
    _, during = _pump_with("efficiency_loss")
    sensors = list(CORE_SENSORS)
    mean, std = history[sensors].mean(), history[sensors].std()
    inside = ((during[sensors] - mean).abs() <= 3 * std).all(axis=1)
    assert inside.all()
    # ... and yet the relation that the affinity laws fix is far out of its normal band.
    pf = PlantFeatures.fit(history)
    ratio = DERIVED_FEATURES.index("efficiency_ratio")
    normal_band = pf.transform(history[list(INPUT_SENSORS)].to_numpy(float), history["asset_id"].tolist())
    faulty = pf.transform(during[list(INPUT_SENSORS)].to_numpy(float), during["asset_id"].tolist())
    assert faulty[:, ratio].mean() < normal_band[:, ratio].mean() - 4 * normal_band[:, ratio].std()


def test_same_seed_same_plant_and_faults() -> None:
    def run(seed: int, run: int) -> tuple[pd.DataFrame, list[Fault]]:
        fleet = Fleet(4, seed=seed, run=run)
        faults = fleet.schedule(until=4 * 3600, rate_per_hour=2.0)
        return fleet.run(3600, 10.0), faults

    a, fa = run(7, 1)
    b, fb = run(7, 1)
    pd.testing.assert_frame_equal(a, b)
    assert fa == fb and fa
    c, _ = run(8, 1)
    assert not np.allclose(a["flow_m3h"], c["flow_m3h"])
    d, _ = run(7, 2)  # another day of the same plant: same machines, other readings
    assert np.allclose(Fleet(4, seed=7, run=2).plates.rated_flow, Fleet(4, seed=7, run=1).plates.rated_flow)
    assert not np.allclose(a["flow_m3h"], d["flow_m3h"])


def test_fault_schedule_respects_types_and_gaps() -> None:
    fleet = Fleet(12, seed=1)
    faults = fleet.schedule(until=48 * 3600, rate_per_hour=1.0, min_gap_s=600.0)
    assert {f.kind for f in faults} == set(FAULT_KINDS)
    for f in faults:
        assert f.kind in applicable_kinds(fleet.machine_types[f.asset]) and 0.6 <= f.severity <= 1
    for asset in fleet.asset_ids:
        mine = sorted((f for f in faults if f.asset_id == asset), key=lambda f: f.onset)
        assert all(b.onset >= a.end + 600 for a, b in zip(mine, mine[1:], strict=False))


def test_history_mode_writes_csv_and_parquet(tmp_path) -> None:
    from pipeline.cli import main

    for name in ("h.csv", "h.parquet"):
        assert main(["simulate", "--history", str(tmp_path / name), "--assets", "3", "--hours", "1"]) == 0
    csv, parquet = pd.read_csv(tmp_path / "h.csv"), pd.read_parquet(tmp_path / "h.parquet")
    assert len(csv) == len(parquet) == 3 * 120
    assert set(CORE_SENSORS) <= set(csv.columns) and "fault" not in csv.columns
    assert np.allclose(csv["flow_m3h"], parquet["flow_m3h"])
    for bad in (["--hours", "-1"], ["--interval", "0"]):  # a usage error, not a numpy traceback
        assert main(["simulate", "--history", str(tmp_path / "x.csv"), *bad]) == 2
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # Each ended in a traceback: NaN rows from an infinite span, an infinite number of substeps.
        (["--hours", "inf"], "--hours and --interval must be finite numbers above 0, got inf, 30"),
        (["--interval", "inf"], "--hours and --interval must be finite numbers above 0, got 24, inf"),
        # Wrote a header and no row, exit 0, which 'models train' read as a file lacking the sensors.
        (
            ["--hours", "0.001"],
            "--hours 0.001 (3.6 s) is shorter than one --interval (30 s): no row to write",
        ),
        # numpy's "expected non-negative integer", naming neither option.
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),
        (["--run", "-1"], "--run must be 0 or more, got -1"),
    ],
)
def test_a_history_option_out_of_range_is_named_and_writes_nothing(tmp_path, capsys, argv, said) -> None:
    from pipeline.cli import main

    assert main(["simulate", "--history", str(tmp_path / "h.csv"), "--assets", "3", *argv]) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "h.csv").exists()


@pytest.mark.parametrize("folder", [".", "out"])
def test_a_history_path_that_is_a_folder_is_said_to_name_the_file(
    tmp_path, capsys, monkeypatch, folder
) -> None:
    # Before: "Device or resource busy" for '.', "Is a directory" for another folder, after the whole
    # history was simulated.
    from pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir(exist_ok=True)
    assert main(["simulate", "--history", folder, "--assets", "3", "--hours", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--history {folder!r} is a folder: --history names the file to write" in err
    assert str(Path(folder) / "history.csv") in err and "busy" not in err and "Is a directory" not in err
    assert not list((tmp_path / "out").iterdir()) and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("name", ["x.txt", "history.csv.gz", "history", "history.CSV"])
def test_a_history_name_of_another_suffix_is_refused_before_simulating(
    tmp_path, capsys, monkeypatch, name
) -> None:
    # Before: CSV was written under any name; models train reads a .gz as gzip, so that history was lost.
    from pipeline.cli import main
    from pipeline.simulator import command

    monkeypatch.setattr(command.Fleet, "run", lambda *a: pytest.fail("simulated before the name was checked"))
    assert main(["simulate", "--history", str(tmp_path / name), "--assets", "3", "--hours", "1"]) == 2
    err = capsys.readouterr().err
    assert f"--history {str(tmp_path / name)!r} names neither a .csv nor a .parquet file" in err
    assert f"such as {str(tmp_path / (name.split('.')[0] + '.csv'))!r}" in err and not list(
        tmp_path.iterdir()
    )


def test_scoreboard_counts_false_alerts_and_misses() -> None:
    board = Scoreboard(grace_s=10, settle_s=5)
    board.add_truth({"state": "start", "asset_id": "p1", "kind": "seal_leak", "onset": 1.0, "ts": 100.0})
    board.add_truth({"state": "end", "asset_id": "p1", "kind": "seal_leak", "onset": 1.0, "ts": 150.0})
    board.add_truth({"state": "start", "asset_id": "p2", "kind": "cavitation", "onset": 2.0, "ts": 100.0})
    board.add_alert({"state": "open", "alert_id": "a", "asset_id": "p1", "opened_at": 155.0, "score": 0.9})
    board.add_alert({"state": "open", "alert_id": "b", "asset_id": "p1", "opened_at": 170.0, "score": 0.9})
    assert board.precision() == 0.5  # the second one came after end + grace
    assert board.recall(now=200.0) == 0.5  # p2's fault was missed
    board.add_alert({"state": "resolved", "alert_id": "a", "asset_id": "p1", "opened_at": 155.0, "score": 0})
    assert [a.asset_id for a in board.open_alerts()] == ["p1"] and len(board.open_alerts()) == 1


def _recovery(kind: str, sensor: str | None = None) -> tuple[pd.DataFrame, Fault]:
    """One pump, a ten-minute fault at full severity ten minutes in, then an hour after it."""
    fleet = Fleet(1, types=("pump",), seed=5, run=1)
    fault = Fault(0, "pump-01", kind, 600.0, 600.0, 1.0, sensor)
    fleet.faults = [fault]
    return fleet.run(4800, 10.0), fault


def test_a_hot_bearing_outlasts_its_fault_and_the_truth_says_so() -> None:
    from pipeline.plantbench import fault_windows
    from pipeline.simulator.fleet import RECOVERY_NOISE_SDS

    frame, fault = _recovery("bearing_wear")
    assert not frame.loc[frame["t"] < fault.end, "recovering"].any()  # under the fault is not recovery
    after = frame[frame["t"] >= fault.end]
    recovering = after.loc[after["recovering"], "t"]
    assert len(recovering) and recovering.min() - fault.end <= 10.0  # straight after the end
    recovered_at = after.loc[~after["recovering"], "t"].min()
    # The lagged excess (about 8 deg C at the end) decays with the bearing's 600 s time constant down to
    # 3 noise SDs (0.45 deg C): ln(8 / 0.45) * 600 s, about 29 minutes.
    assert 20 * 60 < recovered_at - fault.end < 40 * 60
    assert not after.loc[after["t"] > recovered_at, "recovering"].any()  # an exponential decay: once
    hot = after[after["t"] < fault.end + 300]["bearing_temp_c"].mean()
    cool = after[after["t"] > recovered_at + 300]["bearing_temp_c"].mean()
    assert hot - cool > 10 * RECOVERY_NOISE_SDS * 0.15  # clearly hot in the first minutes: > 4.5 deg C
    ((onset, until),) = fault_windows([fault], frame, grace_s=120.0)["pump-01"]
    assert onset == fault.onset and until == recovered_at + 120.0
    # A sensor fault has no after-effect: the window ends at the fault's end (plus grace).
    frame, fault = _recovery("sensor_spikes", "flow_m3h")
    assert not frame["recovering"].any()
    ((_, until),) = fault_windows([fault], frame, grace_s=120.0)["pump-01"]
    assert fault.end + 120.0 <= until <= fault.end + 130.0


def test_scoreboard_counts_alerts_during_recovery_as_true() -> None:
    board = Scoreboard(grace_s=10, settle_s=5)
    start = {"asset_id": "p1", "kind": "bearing_wear", "onset": 1.0}
    board.add_truth(start | {"state": "start", "ts": 100.0})
    board.add_truth(start | {"state": "end", "ts": 150.0, "recovering": True})
    board.add_alert({"state": "open", "alert_id": "a", "asset_id": "p1", "opened_at": 400.0, "score": 0.9})
    assert board.precision() == 1.0  # still cooling: no recovered event yet
    board.add_truth(start | {"state": "recovered", "ts": 500.0})
    board.add_alert({"state": "open", "alert_id": "b", "asset_id": "p1", "opened_at": 505.0, "score": 0.9})
    board.add_alert({"state": "open", "alert_id": "c", "asset_id": "p1", "opened_at": 520.0, "score": 0.9})
    assert board.precision() == 2 / 3  # c came after recovery + grace
    assert board.recall(now=600.0) == 0.0  # detection still needs an alert during the fault (+ grace)


def _naive_cause(board: Scoreboard, asset: str, t: float) -> str | None:
    """The scoreboard's rule written out plainly: the first fault in start order whose time covers t."""
    for fault in sorted(board.faults.values(), key=lambda f: f.start):
        if fault.asset_id == asset and fault.start <= t <= max(fault.end, fault.recovered) + board.grace_s:
            return fault.kind
    return None


@pytest.mark.parametrize("seed", range(5))
def test_the_indexed_scoreboard_answers_as_the_plain_rule_does(seed: int) -> None:
    # The scoreboard looked at every fault for every alert: a demo left running for three days spent
    # seconds per summary. It now bisects each asset's own faults and alerts; the answers must not move.
    rng = np.random.default_rng(seed)
    board, events = Scoreboard(grace_s=20, settle_s=5), []
    for asset in ("p1", "p2", "p3"):
        t = 0.0
        for n in range(40):
            t += float(rng.uniform(50, 400))
            end = t + float(rng.uniform(10, 200))
            onset = {"asset_id": asset, "kind": f"k{n % 4}", "onset": t}
            events.append((t, onset | {"state": "start", "ts": t}))
            if rng.random() < 0.9:  # some faults never end within the run
                lasting = bool(rng.random() < 0.3)
                events.append((end, onset | {"state": "end", "ts": end, "recovering": lasting}))
                if lasting and rng.random() < 0.7:
                    recovered = end + float(rng.uniform(10, 900))  # may outlast the next fault's start
                    events.append((recovered, onset | {"state": "recovered", "ts": recovered}))
        for n in range(60):
            opened = float(rng.uniform(0, t + 200))
            alert = {"state": "open", "alert_id": f"{asset}-{n}", "asset_id": asset, "opened_at": opened}
            events.append((opened, alert | {"score": 0.9}))
    for _, event in sorted(events, key=lambda e: e[0]):
        (board.add_truth if "kind" in event else board.add_alert)(event)
    for alert in board.alerts.values():
        assert board.cause(alert) == _naive_cause(board, alert.asset_id, alert.opened_at)
    detected = {
        (f.asset_id, f.start)
        for f in board.faults.values()
        if any(
            a.asset_id == f.asset_id and f.start <= a.opened_at <= f.end + board.grace_s
            for a in board.alerts.values()
        )
    }
    assert {(f.asset_id, f.start) for f in board.detected()} == detected
