"""``bench plant``: how several scenarios' numbers pool, and a miniature run of the command's code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Settings
from pipeline.plantbench import DETECTORS, PLANT_DETECTORS, pool, run_plant_bench, summarize
from pipeline.plantmodel import PLANT_MODEL_SETTINGS
from pipeline.plantnaming import PROCESS_FAULT_SENSORS, first_alerts, naming
from pipeline.simulator.faults import FAULT_KINDS, SENSOR_FAULTS, Fault, process_effects
from pipeline.simulator.physics import CORE_SENSORS, Effects, PlantPhysics, make_nameplates


def _counts(detected: dict[str, list[bool]], delays: dict[str, list[float]], false: int, days: float) -> dict:
    return {
        "detected": detected,
        "delays": delays,
        "false_alerts": false,
        "alerts_during_recovery": 1,
        "normal_asset_days": days,
    }


def test_pooled_numbers_count_every_episode_and_asset_day_once() -> None:
    a = _counts(
        {"cavitation": [True, False], "seal_leak": [True]},
        {"cavitation": [10.0], "seal_leak": [300.0]},
        3,
        0.5,
    )
    b = _counts({"cavitation": [True, True, True]}, {"cavitation": [20.0, 30.0, 40.0]}, 1, 1.5)
    pooled = summarize(pool([a, b]))
    assert pooled["episodes"] == {"cavitation": 5, "seal_leak": 1}
    assert pooled["detection_rate"] == {
        "cavitation": 0.8,
        "seal_leak": 1.0,
    }  # 4 of 5, not the mean of 0.5 and 1
    assert pooled["median_ttd_seconds"]["cavitation"] == 25.0  # the median of all four delays
    assert pooled["false_alerts"] == 4 and pooled["alerts_during_recovery"] == 2
    assert pooled["false_alerts_per_asset_day"] == 2.0  # 4 alerts over 2 asset-days
    assert summarize(pool([a]))["detection_rate"]["cavitation"] == 0.5
    # A kind some scenario never saw is still reported, without a time to detect where nothing was found.
    missed = summarize(pool([_counts({"sensor_stuck": [False]}, {}, 0, 0.0)]))
    assert missed["median_ttd_seconds"] == {"sensor_stuck": None}
    assert missed["false_alerts_per_asset_day"] is None


@pytest.mark.integration
def test_a_small_two_seed_run_reports_pooled_and_per_seed_numbers(tmp_path: Path) -> None:
    out = tmp_path / "plant.json"
    code = run_plant_bench(
        Settings(), seed=3, seeds=2, assets=3, minutes=60, history_hours=2, normal_hours=1, out=out
    )
    result = json.loads(out.read_text())
    assert code == 0
    assert result["scenario"]["seeds"] == [3, 4]
    # Where it ran travels with the numbers: DHAG's per-seed results depend on the CPU's kernels.
    machine = result["meta"]["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch_cpu_capability"] and result["meta"]["command"]
    assert set(result["per_seed"]) == {"3", "4"}
    for name in DETECTORS:
        pooled, runs = result[name], [result["per_seed"][s][name] for s in ("3", "4")]
        assert set(pooled) >= {"detection_rate", "median_ttd_seconds", "false_alerts_per_asset_day"}
        # One fault-free hour of three assets per seed: 0.125 asset-days each, its alerts all false,
        # and counted in the headline numbers beside the fault stream's quiet periods.
        for r in runs:
            assert r["normal_day"]["asset_days"] == pytest.approx(0.125, abs=1e-3)
            assert len(r["normal_day"]["false_alert_openings"]) == r["normal_day"]["false_alerts"]
            assert r["false_alerts"] >= r["normal_day"]["false_alerts"]
            assert r["normal_asset_days"] > r["normal_day"]["asset_days"]
        assert pooled["normal_day"]["asset_days"] == pytest.approx(0.25, abs=1e-3)
        assert pooled["normal_day"]["false_alerts"] == sum(r["normal_day"]["false_alerts"] for r in runs)
        for kind, episodes in pooled["episodes"].items():
            assert episodes == sum(r["episodes"].get(kind, 0) for r in runs) > 0
            # Episodes begun under an open alert: pooled as the scenarios' sum, the undetected among them.
            covered = pooled["covered_by_open_alert"][kind]
            assert covered == sum(r["covered_by_open_alert"].get(kind, 0) for r in runs) <= episodes
            assert 0 <= pooled["covered_by_open_alert_undetected"][kind] <= covered
            found = sum(r["detection_rate"].get(kind, 0.0) * r["episodes"].get(kind, 0) for r in runs)
            assert pooled["detection_rate"][kind] == pytest.approx(found / episodes, abs=1e-3)
            assert 0.0 <= pooled["detection_rate"][kind] <= 1.0
        assert pooled["false_alerts"] == sum(r["false_alerts"] for r in runs)
        assert pooled["normal_asset_days"] == pytest.approx(
            sum(r["normal_asset_days"] for r in runs), abs=2e-3
        )
    # Naming: DHAG's alerts and the 3-sigma limits' name sensors; HalfSpaceTrees' do not.
    for name in ("dhag", "sigma3"):
        named = result[name]["naming"]
        assert named["top_sensors"] == Settings().alerts.top_sensors
        keys = {"top_sensors", "sensor_faults", "process_faults", "by_kind"}
        # DHAG's alerts also carry suspect_sensors (raw sensors), measured the same way beside.
        assert set(named) == keys | ({"suspect_sensors"} if name == "dhag" else set())
        suspects = named.get("suspect_sensors", named)
        assert set(suspects) == keys
        for rates in (named["sensor_faults"], named["process_faults"], *named["by_kind"].values()):
            assert set(rates) == {"episodes", "rank1", "in_top", "chance_rank1", "chance_in_top"}
        for kind, rates in suspects["by_kind"].items():
            assert rates["episodes"] == named["by_kind"][kind]["episodes"]
            assert 0.0 <= rates["rank1"] <= rates["in_top"] <= 1.0
        # One rate per detected episode, in every kind it detected (pooled: nothing listed per alert).
        found = {k: round(r * result[name]["episodes"][k]) for k, r in result[name]["detection_rate"].items()}
        assert {k: v["episodes"] for k, v in named["by_kind"].items()} == {
            k: n for k, n in found.items() if n
        }
        for s in ("3", "4"):
            alerts = result["per_seed"][s][name]["naming"]["alerts"]
            assert len(alerts) == sum(
                v["episodes"] for v in result["per_seed"][s][name]["naming"]["by_kind"].values()
            )
            assert all(len(a["named"]) == named["top_sensors"] for a in alerts)
            if name == "dhag":  # at most top_sensors suspects, raw sensors; fewer where none is found
                said = result["per_seed"][s][name]["naming"]["suspect_sensors"]["alerts"]
                assert len(said) == len(alerts)
                assert all(set(a["named"]) <= set(CORE_SENSORS) for a in said)
                assert all(len(a["named"]) <= named["top_sensors"] for a in said)
    assert "naming" not in result["hst"]
    # Three assets of three types over two half-hour slots each: six episodes per seed.
    assert sum(result["dhag"]["episodes"].values()) == 12
    # Every kind the fleet's types can have was injected; DHAG found the cavitation, the plainest fault.
    assert result["dhag"]["detection_rate"]["cavitation"] > 0


def test_each_scenario_names_its_false_alerts_where_and_when() -> None:
    import pandas as pd

    from pipeline.plantbench import tally

    # Two assets, a reading every 2 s from t = 1000; one fault on pump-01 from 1100 to 1200.
    times = [1000.0 + 2 * i for i in range(300)]
    stream = pd.DataFrame(
        {
            "asset_id": ["pump-01", "fan-01"] * 300,
            "t": [t for t in times for _ in range(2)],
            "fault": [""] * 600,
        }
    )
    fault = Fault(asset=0, asset_id="pump-01", kind="cavitation", onset=1100.0, duration=100.0, severity=1.0)
    openings = [("pump-01", 1104.0), ("pump-01", 1040.0), ("fan-01", 1150.0)]
    counts = tally(openings, [fault], stream, grace_s=120.0)
    assert counts["false_alerts"] == 2
    assert counts["false_alert_openings"] == [
        {"asset_id": "pump-01", "stream_s": 40.0},
        {"asset_id": "fan-01", "stream_s": 150.0},
    ]
    assert summarize(counts)["false_alert_openings"] == counts["false_alert_openings"]
    # Pooled scenarios keep only the count (each scenario's own list is under per_seed).
    assert "false_alert_openings" not in summarize(pool([counts, counts]))
    assert summarize(pool([counts, counts]))["false_alerts"] == 4


def test_a_fault_paged_twice_counts_two_alerts_for_its_detected_episode() -> None:
    import pandas as pd

    from pipeline.plantbench import tally

    stream = pd.DataFrame({"asset_id": ["pump-01"] * 300, "t": [1000.0 + 2 * i for i in range(300)]})
    stream["fault"] = ""
    stuck = [
        Fault(asset=0, asset_id="pump-01", kind="sensor_stuck", onset=o, duration=100.0, severity=1.0)
        for o in (1100.0, 1400.0)
    ]
    missed = Fault(asset=0, asset_id="pump-01", kind="cavitation", onset=1800.0, duration=50.0, severity=1.0)
    # The first stuck sensor resolved while it went on and opened again (twice, the second at
    # end + grace); the second was paged once; the cavitation was missed.
    openings = [("pump-01", t) for t in (1104.0, 1150.0, 1320.0, 1410.0)]
    counts = tally(openings, [*stuck, missed], stream, grace_s=120.0)
    assert counts["alerts_per_episode"] == {"sensor_stuck": [3, 1]}
    summary = summarize(pool([counts, counts]))
    assert summary["alerts_per_detected_episode"] == {"cavitation": None, "sensor_stuck": 2.0}
    assert summarize(counts)["detection_rate"] == {"cavitation": 0.0, "sensor_stuck": 1.0}


def test_the_fault_free_day_is_the_same_fleet_without_faults_at_every_hour() -> None:
    from pipeline.plantbench import normal_day, scenario

    history, stream, _ = scenario(seed=5, assets=3, minutes=30, history_hours=1)
    quiet = normal_day(seed=5, assets=3, hours=0.5)
    assert sorted(quiet["asset_id"].unique()) == sorted(stream["asset_id"].unique())
    assert (quiet["fault"] == "").all() and not quiet["recovering"].any()
    assert len(quiet) == 3 * 900  # a reading every 2 s, as the fault stream
    # Its own run of the plant: not a replay of the history's first half hour.
    first = history[history["t"] <= 1800].groupby("asset_id")["speed_rpm"].mean()
    assert not np.allclose(quiet.groupby("asset_id")["speed_rpm"].mean(), first)


def test_the_opt_in_detectors_train_other_plant_models(monkeypatch) -> None:
    import pipeline.plantdetectors as plantdetectors

    seen: list[dict] = []

    def fake_train(history, **kwargs):
        seen.append(kwargs)
        raise RuntimeError("stop after training")

    monkeypatch.setattr(plantdetectors, "train_plant_model", fake_train)
    for name in ("dhag", "dhag5", "dhag-classes", "dhag-snapshots", "dhag-reference"):
        with pytest.raises(RuntimeError, match="stop after training"):
            plantdetectors.BUILDERS[name](None, 7)
    assert all(k["time_budget"] is None and k["fleet"] == {"bench": 7} for k in seen)
    assert [(k["n_members"], k.get("ce_weighting"), k.get("snapshots"), k.get("recipe")) for k in seen] == [
        (1, None, None, None),
        (5, None, None, None),
        (1, "classes", None, None),
        (1, None, 10, None),
        (1, None, None, "reference"),
    ]
    assert PLANT_MODEL_SETTINGS["ce_weighting"] == "rows"  # so "dhag-classes" is another model
    assert "snapshots" not in PLANT_MODEL_SETTINGS  # so "dhag-snapshots" is another model
    assert "recipe" not in PLANT_MODEL_SETTINGS  # nor "dhag-reference", built as the paper by default
    assert not {"dhag5", "dhag-classes", "dhag-snapshots", "dhag-reference"} & set(DETECTORS)  # opt-in
    with pytest.raises(
        ValueError, match="some of dhag, dhag5, dhag-classes, dhag-snapshots, dhag-reference, sigma3"
    ):
        run_plant_bench(Settings(), detectors=("dhag", "nope"))


def test_the_command_line_offers_exactly_the_benchmarks_detectors() -> None:
    # pipeline.cli lists them itself (importing the bench at start-up would load pandas and torch).
    from pipeline.cli import _parser

    args = _parser().parse_args(["bench", "plant", "--detectors", *PLANT_DETECTORS])
    assert tuple(args.detectors) == PLANT_DETECTORS
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "plant", "--detectors", "nope"])


def _fault(kind: str, asset_id: str, onset: float, sensor: str | None = None) -> Fault:
    return Fault(
        asset=0, asset_id=asset_id, kind=kind, onset=onset, duration=100.0, severity=1.0, sensor=sensor
    )


def _entry(feature: str, *sensors: str) -> dict:
    # An entry of an alert's top_sensors: a derived feature carries the raw sensors it comes from.
    return {"sensor": feature, "contribution": 0.1} | ({"from_sensors": list(sensors)} if sensors else {})


def test_naming_counts_the_faulty_sensor_at_rank_one_and_in_the_top_entries() -> None:
    features = {
        "flow_pu": ["flow_m3h"],
        "speed_pu": ["speed_rpm"],
        "power_pu": ["motor_power_kw"],
        "flow_per_speed": ["flow_m3h", "speed_rpm"],
    }
    episodes = [
        # The right sensor first: counts at rank 1 and in the top.
        (_fault("sensor_stuck", "p1", 0.0, "flow_m3h"), [_entry("flow_pu", "flow_m3h"), _entry("power_pu")]),
        # A derived feature that comes from the faulty sensor names it too.
        (_fault("sensor_stuck", "p2", 0.0, "speed_rpm"), [_entry("flow_per_speed", "flow_m3h", "speed_rpm")]),
        # Second: in the top, not at rank 1.
        (
            _fault("sensor_drift", "p1", 500.0, "speed_rpm"),
            [
                _entry("power_pu", "motor_power_kw"),
                _entry("speed_pu", "speed_rpm"),
                _entry("flow_pu", "flow_m3h"),
            ],
        ),
        # Wrong sensors only: counts in neither.
        (
            _fault("sensor_drift", "p2", 500.0, "motor_power_kw"),
            [_entry("flow_pu", "flow_m3h"), _entry("speed_pu", "speed_rpm")],
        ),
        # Beyond the top count (here 2) it does not count.
        (
            _fault("sensor_spikes", "p3", 0.0, "flow_m3h"),
            [
                _entry("speed_pu", "speed_rpm"),
                _entry("power_pu", "motor_power_kw"),
                _entry("flow_pu", "flow_m3h"),
            ],
        ),
        # A process fault against the sensors its kind moves.
        (_fault("efficiency_loss", "p3", 500.0), [_entry("power_pu", "motor_power_kw")]),
    ]
    tallied = naming(episodes, features, top=2)
    kinds = tallied["kinds"]
    assert kinds["sensor_stuck"]["rank1"] == [True, True] and kinds["sensor_stuck"]["in_top"] == [True, True]
    assert kinds["sensor_drift"]["rank1"] == [False, False] and kinds["sensor_drift"]["in_top"] == [
        True,
        False,
    ]
    assert kinds["sensor_spikes"]["rank1"] == [False] and kinds["sensor_spikes"]["in_top"] == [False]
    assert kinds["efficiency_loss"]["rank1"] == [True]
    # Chance: two features of four name the flow meter; two drawn at random miss both in 1 of 6 draws.
    assert kinds["sensor_stuck"]["chance_rank1"][0] == 0.5
    assert kinds["sensor_stuck"]["chance_in_top"][0] == pytest.approx(5 / 6)
    assert tallied["alerts"][2]["named"] == ["power_pu", "speed_pu"] and tallied["alerts"][2]["truth"] == [
        "speed_rpm"
    ]
    summary = summarize(pool([_counts({}, {}, 0, 1.0) | {"naming": tallied}] * 2))["naming"]
    assert summary["top_sensors"] == 2
    # Pooled over the five sensor-fault episodes of both copies: 2 of 5 at rank 1, 3 of 5 in the top.
    assert summary["sensor_faults"]["episodes"] == 10
    assert (summary["sensor_faults"]["rank1"], summary["sensor_faults"]["in_top"]) == (0.4, 0.6)
    assert summary["by_kind"]["sensor_drift"] == {
        "episodes": 4,
        "rank1": 0.0,
        "in_top": 0.5,
        "chance_rank1": 0.375,  # the speed sensor: 2 features of 4; the power meter: 1
        "chance_in_top": pytest.approx((5 / 6 + 1 / 2) / 2, abs=1e-3),
    }
    assert summary["process_faults"]["episodes"] == 2 and summary["process_faults"]["rank1"] == 1.0
    assert "alerts" not in summary  # each scenario lists its own (per_seed)


def test_an_episode_is_named_by_its_first_alert_within_its_window() -> None:
    faults = [
        _fault("sensor_stuck", "p1", 1000.0, "flow_m3h"),
        _fault("sensor_drift", "p2", 1000.0, "speed_rpm"),
    ]
    # p1: one before the onset (not its alert), then two within: the earlier one counts. p2: none.
    openings = [("p1", 990.0), ("p1", 1060.0), ("p1", 1010.0), ("p2", 1300.0)]
    assert [(f.asset_id, i) for f, i in first_alerts(openings, faults, grace_s=120.0)] == [("p1", 2)]


def test_the_process_fault_table_is_what_the_physics_moves_at_once() -> None:
    # Two copies of one pump with the same random draws, one under the fault, stepped a millisecond:
    # a sensor that follows at once differs by the fault's full effect, a lagged temperature by ~1e-6.
    assert set(PROCESS_FAULT_SENSORS) == set(FAULT_KINDS) - set(SENSOR_FAULTS)
    plates = make_nameplates(["pump"], np.random.default_rng(0))
    for kind, sensors in PROCESS_FAULT_SENSORS.items():
        fault = _fault(kind, "pump-01", 0.0)
        fx = process_effects(1, [fault], 50.0, np.random.default_rng(1))
        clean, faulty = (PlantPhysics(plates, np.random.default_rng(2), start_s=50.0) for _ in range(2))
        a, b = clean.step(1e-3, Effects(1)), faulty.step(1e-3, fx)
        moved = {s for s in CORE_SENSORS if abs(b[s][0] - a[s][0]) > 1e-4 * abs(a[s][0])}
        assert moved == set(sensors), kind
