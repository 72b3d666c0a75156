"""A plant-wide event in the simulator (the cooling water running warm on every asset at once): what it
does to the readings, its ground truth, the `simulate --plant-event` option, and that the daemon's
processing opens an alert on most assets at once, which is what DhagManyAssetsAnomalous counts."""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from kafka.future import Future
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.plantmodel import train_plant_model
from pipeline.processing import BatchProcessor
from pipeline.simulator import PLANT_EVENT_KINDS, Fleet
from pipeline.simulator.faults import Fault

Rec = namedtuple("Rec", "topic partition offset key value")

ONSET, DURATION, INTERVAL = 1200.0, 1800.0, 10.0
COOLED = ("bearing_temp_c", "winding_temp_c", "discharge_temp_c")
UNCOOLED = ("speed_rpm", "flow_m3h", "discharge_pressure_bar", "motor_current_a", "motor_power_kw")


def _with_and_without(types: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[Fault]]:
    """Six assets for 3.5 simulated hours, with the event and without it (same plant, same noise)."""
    hit = Fleet(6, seed=2, run=1)
    event = hit.add_plant_event("cooling_water", onset=ONSET, duration=DURATION, types=types)
    return (
        hit.run(ONSET + DURATION + 2 * 3600, INTERVAL),
        Fleet(6, seed=2, run=1).run(ONSET + DURATION + 2 * 3600, INTERVAL),
        event,
    )


def _excess(hit: pd.DataFrame, base: pd.DataFrame, sensor: str) -> pd.DataFrame:
    """Per time (rows) and asset (columns), how much the event raised ``sensor``."""
    diff = hit[sensor] - base[sensor]
    return diff.groupby([hit["t"], hit["asset_id"]]).first().unstack()


def test_the_event_warms_every_asset_from_the_same_moment_and_its_cause_lasts_its_duration() -> None:
    hit, base, event = _with_and_without()
    assert {f.asset_id for f in event} == set(hit["asset_id"]) and len(event) == 6
    assert {(f.kind, f.onset, f.end) for f in event} == {("cooling_water", ONSET, ONSET + DURATION)}
    bearing = _excess(hit, base, "bearing_temp_c")
    # No reading differs before the onset.
    changed = hit[list(COOLED)].fillna(0).ne(base[list(COOLED)].fillna(0)).any(axis=1)
    assert hit.loc[changed, "t"].min() > ONSET
    # Under the noise and the transmitters' 0.1 deg C steps, every asset's bearing is warmed by the same
    # amount from the same step on, the first after the onset (a fault grows from nothing at its onset).
    fleet = Fleet(6, seed=2, run=1)
    fleet.add_plant_event("cooling_water", onset=ONSET, duration=DURATION)
    heat = []
    while fleet.t < ONSET + 60:
        fleet.step(INTERVAL)
        heat.append((fleet.t, fleet.physics.fault_heat()["bearing_temp_c"]))
    assert all((h == 0).all() for t, h in heat if t <= ONSET)
    assert all((h > 0).all() and np.allclose(h, h[0]) for t, h in heat if t > ONSET)
    # It settles about 8 deg C warm (three of the bearing's 10-minute lags into it) on every asset, and
    # only the cooled temperatures move: speed, flow, pressure and power run as they would have.
    late = bearing.loc[(bearing.index >= ONSET + DURATION - 300) & (bearing.index < ONSET + DURATION)]
    assert (late.mean() > 6.5).all() and (late.mean() < 8.5).all()
    compressors = hit["machine_type"] == "compressor"
    during = (hit["t"] >= ONSET + DURATION - 300) & (hit["t"] < ONSET + DURATION)
    discharge = (
        hit.loc[during & compressors, "discharge_temp_c"] - base.loc[during & compressors, "discharge_temp_c"]
    )
    assert discharge.mean() > 7.0
    winding = _excess(hit, base, "winding_temp_c").loc[late.index]
    assert (winding.mean() > 5.0).all()
    pd.testing.assert_frame_equal(hit[list(UNCOOLED)], base[list(UNCOOLED)])
    # Once the cause is over the temperatures cool back down with their lags: two hours on, none of them
    # is off by more than three noise SDs of its sensor.
    assert (bearing.loc[ONSET + DURATION - INTERVAL] > bearing.loc[ONSET + DURATION + 600]).all()
    last = hit["t"] >= hit["t"].max() - 300
    for sensor in COOLED:
        off = (hit.loc[last, sensor] - base.loc[last, sensor]).abs().dropna()
        assert off.mean() < 0.45, sensor


def test_the_ground_truth_records_the_event_on_every_asset_as_it_records_a_fault() -> None:
    hit, _, _ = _with_and_without()
    under = hit["fault"] == "cooling_water"
    expected = (hit["t"] >= ONSET) & (hit["t"] < ONSET + DURATION)
    pd.testing.assert_series_equal(under, expected, check_names=False)
    assert (hit.loc[~expected, "fault"] == "").all()
    # After the cause, each asset is recovering (temperatures still warm), then recovered.
    after = hit[hit["t"] >= ONSET + DURATION]
    recovering = after.groupby("asset_id")["recovering"]
    assert recovering.first().all() and not recovering.last().any()


def test_an_event_of_one_group_leaves_the_other_machines_alone() -> None:
    hit, base, event = _with_and_without(types=["compressor"])
    assert [f.asset_id for f in event] == ["compressor-01", "compressor-02"]
    others = hit["machine_type"] != "compressor"
    pd.testing.assert_frame_equal(hit[others], base[others])
    assert set(hit.loc[hit["fault"] != "", "asset_id"]) == {"compressor-01", "compressor-02"}
    assert (_excess(hit, base, "bearing_temp_c").loc[ONSET + DURATION - INTERVAL].dropna() > 0).sum() == 2


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"kind": "power_dip"}, "kind must be one of cooling_water, got 'power_dip'"),
        ({"duration": 0.0}, "duration above 0, got 600, 0"),
        (
            {"types": ["pumps"]},
            "types must be machine types of the fleet (pump, fan, compressor), got ['pumps']",
        ),
    ],
)
def test_a_plant_event_it_cannot_simulate_is_refused(options: dict[str, Any], said: str) -> None:
    fleet = Fleet(3, seed=0)
    args = {"kind": "cooling_water", "onset": 600.0, "duration": 60.0} | options
    with pytest.raises(ValueError, match="A plant event's") as caught:
        fleet.add_plant_event(args.pop("kind"), **args)
    assert said in str(caught.value) and fleet.faults == []


def test_the_truth_stream_starts_and_ends_the_event_on_every_asset_at_the_same_simulated_time(
    monkeypatch,
) -> None:
    from pipeline.simulator import stream

    truth: list[dict[str, Any]] = []
    # 4,500 simulated seconds (750 readings of each of the six assets), however slow the machine: a
    # stream stopped by the wall clock streamed less on a busy one.
    enough, readings = threading.Event(), [0]

    class Recorder:
        def __init__(self, **_: object) -> None: ...

        def send(self, topic: str, key: bytes, value: bytes) -> Future:
            if topic == "sensor-truth":
                truth.append(orjson.loads(value))
            else:
                readings[0] += 1
                if readings[0] >= 6 * 750:
                    enough.set()
            return Future().success(None)

        def flush(self, timeout: float) -> None: ...

        def close(self, timeout: float) -> None: ...

    monkeypatch.setattr(stream, "KafkaProducer", Recorder)
    fleet = Fleet(6, seed=2, run=1)
    fleet.add_plant_event("cooling_water", onset=300.0, duration=600.0)
    # A reading of each asset every simulated 6 s (in about 1.5 s at this rate): the bearings are back
    # to normal (recovered) about half an hour after the event's end.
    stats = stream.stream_fleet(
        fleet, "unused:9092", rate=3000.0, speedup=3000.0, duration_s=120, stop=enough
    )
    assert stats.sim_seconds >= 4500, "the stream stopped at its wall-clock backstop"
    by_state: dict[str, list[dict[str, Any]]] = {}
    for event in truth:
        by_state.setdefault(event["state"], []).append(event)
    for state in ("start", "end"):
        assert sorted(e["asset_id"] for e in by_state[state]) == sorted(fleet.asset_ids), state
        assert len({e["sim_t"] for e in by_state[state]}) == 1, state  # one moment for all
        assert {(e["kind"], e["onset"], e["duration"]) for e in by_state[state]} == {
            ("cooling_water", 300.0, 600.0)
        }
    assert all(e["recovering"] for e in by_state["end"])  # still warm when the water is cool again
    assert sorted(e["asset_id"] for e in by_state["recovered"]) == sorted(fleet.asset_ids)


def _streamed_fleet(monkeypatch, argv: list[str]) -> tuple[int, list[Fleet]]:
    from pipeline.cli import main

    fleets: list[Fleet] = []
    monkeypatch.setattr(
        "pipeline.simulator.command._stream", lambda s, a, fleet, b: fleets.append(fleet) or 0
    )
    return main(["simulate", "--bootstrap", "127.0.0.1:1", "--assets", "6", *argv]), fleets


def test_simulate_plant_event_schedules_it_after_the_stream_starts(monkeypatch) -> None:
    code, (fleet,) = _streamed_fleet(monkeypatch, ["--plant-event", "600:900"])
    assert code == 0
    assert [(f.asset_id, f.kind, f.onset, f.duration) for f in fleet.faults] == [
        (asset, "cooling_water", fleet.t + 600.0, 900.0) for asset in fleet.asset_ids
    ]
    code, (fleet,) = _streamed_fleet(monkeypatch, ["--plant-event", "0", "--plant-event-types", "fan, pump"])
    assert code == 0 and {f.asset_id for f in fleet.faults} == {"pump-01", "pump-02", "fan-01", "fan-02"}
    assert {f.duration for f in fleet.faults} == {1800.0}
    # Off by default: the plant streams its random faults only (drawn while it streams).
    code, (fleet,) = _streamed_fleet(monkeypatch, [])
    assert code == 0 and fleet.faults == [] and PLANT_EVENT_KINDS == ("cooling_water",)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--plant-event", "soon"],
            "--plant-event takes AT[:DURATION] in simulated seconds after the stream",
        ),
        (["--plant-event", "-5"], "got '-5'"),
        (["--plant-event", "600:0"], "DURATION above 0 (e.g. 600:1800); got '600:0'"),
        (["--plant-event", "600:"], "got '600:'"),
        (["--plant-event", "nan"], "got 'nan'"),
        (["--plant-event", "600", "--plant-event-types", "pumps"], "must name machine types of this fleet"),
        (["--plant-event-types", "pump"], "--plant-event-types needs --plant-event"),
    ],
)
def test_a_plant_event_option_out_of_range_is_a_usage_error_before_streaming(
    argv: list[str], said: str, capsys, monkeypatch
) -> None:
    code, fleets = _streamed_fleet(monkeypatch, argv)
    assert code == 2 and fleets == []
    assert said in capsys.readouterr().err


def test_a_history_has_no_plant_event(tmp_path, capsys) -> None:
    from pipeline.cli import main

    out = tmp_path / "h.csv"
    assert main(["simulate", "--history", str(out), "--hours", "0.1", "--plant-event", "60"]) == 2
    assert "--plant-event is for streaming" in capsys.readouterr().err and not out.exists()


def _open_at_once(model: Any, fleet: Fleet, until: float) -> list[tuple[float, int, set[str]]]:
    """Score ``fleet`` every 10 simulated seconds through the daemon's batch processing (default alert
    settings); per batch, the time, the number of assets with an alert open and those opened so far."""
    proc = BatchProcessor(Settings(), model, "v1", PipelineMetrics(CollectorRegistry()))
    epoch, offset, open_now, opened = 1.7e9, 0, set(), set()
    counts = []
    while fleet.t < until:
        t, readings = fleet.step(INTERVAL)
        batch = []
        for asset, values in fleet.records(readings):
            record = {"asset_id": asset, "ts": epoch + t, "values": values}
            batch.append(Rec("sensor-readings", 0, offset, asset.encode(), orjson.dumps(record)))
            offset += 1
        for message in proc.process(batch, now=epoch + t).messages:
            if message.topic == "anomaly-alerts":
                alert = orjson.loads(message.value)
                if alert["state"] == "open":
                    open_now.add(alert["asset_id"])
                    opened.add(alert["asset_id"])
                else:
                    open_now.discard(alert["asset_id"])
        counts.append((t, len(open_now), set(opened)))
    return counts


def test_the_daemon_opens_alerts_on_most_assets_at_once_soon_after_the_event() -> None:
    # DhagManyAssetsAnomalous fires for a plant of 5 to 25 assets when 5 have an alert open at once.
    # A small model (an hour of history, ten epochs) keeps this test short; the stream covers the same
    # hours of the day as the history.
    model = train_plant_model(
        Fleet(6, seed=4, run=0).run(3600, INTERVAL), seed=0, max_epochs=10, time_budget=None
    )
    onset = 600.0
    fleet = Fleet(6, seed=4, run=1)
    fleet.add_plant_event("cooling_water", onset=onset, duration=900.0)
    counts = _open_at_once(model, fleet, onset + 900.0)
    before = [n for t, n, _ in counts if t < onset]
    assert max(before) < 5  # the rule would not have fired before the event
    soon = [(n, opened) for t, n, opened in counts if onset <= t <= onset + 600.0]
    assert max(n for n, _ in soon) >= 5  # within ten simulated minutes, five of six open at once
    # The same stretch of the same plant without the event never gets there.
    calm = _open_at_once(model, Fleet(6, seed=4, run=1), onset + 900.0)
    assert max(n for _, n, _ in calm) < 5
