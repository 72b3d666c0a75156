"""A transmitter stuck at one value while its machine runs: a plant model keeps how long each sensor
ever read one value in a row running in its training history (readings and seconds), and the daemon
judges a running reading anomalous once one of its sensors has read one value ``frozen_sensor_factor``
times that long in both (:mod:`pipeline.frozen`)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import orjson
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from test_pipeline_standstill import _stopped

from pipeline.alertevents import suspect_tag
from pipeline.alerts import Transition
from pipeline.carryover import open_episodes
from pipeline.config import Settings
from pipeline.frozen import METADATA_KEY, MIN_READINGS, FrozenSensors, frozen_first, runs_of, sensor_runs
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")
SPEC = {"version": 1, "sensors": ["flow", "speed"], "assets": {"p1": [[2, 20.0], [3, 30.0]]}}


def _observe(frozen, readings, *, asset="p1", start=0.0, step=10.0, still=None, spec=SPEC):
    """:meth:`FrozenSensors.observe` of ``readings`` (value dicts) of one asset, ``step`` s apart."""
    stamps = [start + step * k for k in range(len(readings))]
    still = [False] * len(readings) if still is None else still
    return frozen.observe(spec, [asset] * len(readings), stamps, readings, still)


# -- what the history says -------------------------------------------------------------------------
def test_the_history_gives_each_assets_longest_running_run_in_readings_and_seconds() -> None:
    frame = pd.DataFrame(
        {
            "asset_id": ["p1"] * 7 + ["p2"] * 3,
            "t": [60.0, 0, 30, 90, 120, 150, 180, 0, 30, 60],  # p1 out of order: sorted by time
            "flow": [5.0, 5, 5, 5, 5, 5, np.nan, 5, 5, 7],
        }
    )
    running = np.array([True, True, True, False, True, True, True, True, True, True])
    runs = sensor_runs(frame, ["flow"], running)
    # p1: 0, 30, 60 read 5 running (3 readings, 60 s); the standstill at 90 ends it; 120 and 150 again
    # (2, 30 s); the NaN is no reading. p2: its run of two does not go on from p1's readings.
    assert runs == {"version": 1, "sensors": ["flow"], "assets": {"p1": [[3, 60.0]], "p2": [[2, 30.0]]}}
    assert sensor_runs(frame.drop(columns="t"), ["flow"], running) is None  # no times: nothing kept


def test_a_plant_model_keeps_its_sensors_runs(plant_model) -> None:
    runs = runs_of(plant_model)
    assert runs is not None and runs["sensors"][0] == "speed_rpm"
    assert set(runs["assets"]) == {"pump-01", "fan-01", "compressor-01"}
    assert all(n >= 1 and s >= 0 for pairs in runs["assets"].values() for n, s in pairs)


@pytest.mark.parametrize(
    "spec",
    [
        {"version": 2, "sensors": ["flow"], "assets": {}},
        {"version": 1, "sensors": ["flow"], "assets": {"p1": [[2, 20.0], [1, 0.0]]}},
        {"version": 1, "sensors": ["flow"], "assets": {"p1": [[2, -1.0]]}},
        {"version": 1, "sensors": ["flow"], "assets": {"p1": [[True, 1.0]]}},
        {"version": 1, "sensors": "flow", "assets": {}},
        "not a mapping",
    ],
)
def test_runs_in_another_form_judge_nothing(spec) -> None:
    class Model:
        metadata_ = {METADATA_KEY: spec}

    assert runs_of(Model()) is None


# -- the judgement ---------------------------------------------------------------------------------
def test_a_sensor_is_frozen_after_factor_times_its_longest_run_in_readings_and_seconds() -> None:
    # speed: 3 readings and 30 s in training; with factor 4: 12 readings and 120 s.
    out = _observe(FrozenSensors(4.0), [{"flow": float(k), "speed": 1500.0} for k in range(15)])
    assert sorted(out) == [12, 13, 14]  # the 13th reading: 13 readings over 120 s, both reached
    assert out[12] == [{"sensor": "speed", "value": 1500.0, "unchanged_readings": 13, "unchanged_s": 120.0}]
    # Read every second, 12 readings span 11 s: the readings are reached, the time not until 121.
    fast = _observe(FrozenSensors(4.0), [{"flow": float(k), "speed": 1500.0} for k in range(130)], step=1.0)
    assert min(fast) == 120
    # Read every minute, 3 readings span 120 s: the time is reached, the readings not until 12.
    slow = _observe(FrozenSensors(4.0), [{"flow": float(k), "speed": 1500.0} for k in range(15)], step=60.0)
    assert min(slow) == 11


def test_never_fewer_than_the_minimum_readings() -> None:
    spec = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[1, 0.0]]}}  # never repeated in training
    out = _observe(FrozenSensors(3.0), [{"flow": 5.0}] * 15, spec=spec)
    assert min(out) == MIN_READINGS - 1  # the 10th reading


def test_a_change_a_standstill_a_silence_or_a_missing_value_ends_a_run() -> None:
    frozen = FrozenSensors(1.0, max_gap_s=300.0)
    spec = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[1, 0.0]]}}
    nine = [{"flow": 5.0}] * 9
    for breaker, still in (
        ({"flow": 5.1}, False),
        ({"flow": 5.0}, True),
        ({}, False),
        ({"flow": None}, False),
    ):
        frozen = FrozenSensors(1.0)
        readings = [*nine, breaker, *nine]
        flags = [False] * 9 + [still] + [False] * 9
        assert _observe(frozen, readings, still=flags, spec=spec) == {}, breaker
    frozen = FrozenSensors(1.0, max_gap_s=300.0)
    assert _observe(frozen, nine, spec=spec) == {}
    assert _observe(frozen, nine, start=90.0 + 301.0, spec=spec) == {}  # after a silence: afresh
    # Not 18 in a row, but 9 since the silence: the next one is the 10th.
    assert _observe(frozen, [{"flow": 5.0}], start=90.0 + 301.0 + 90.0, spec=spec) != {}


def test_a_batch_delivered_again_counts_once() -> None:
    frozen = FrozenSensors(1.0)
    spec = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[1, 0.0]]}}
    readings = [{"flow": 5.0}] * 5
    for _ in range(3):  # the same five readings: a batch retried
        assert _observe(frozen, readings, spec=spec) == {}
    assert _observe(frozen, readings, start=50.0, spec=spec) != {}  # five more: ten


def test_a_batch_processed_again_is_judged_as_the_first_time() -> None:
    frozen = FrozenSensors(1.0)
    spec = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[1, 0.0]]}}
    first = _observe(frozen, [{"flow": 5.0}] * 12, spec=spec)
    assert sorted(first) == [9, 10, 11]
    for _ in range(2):  # undone for want of delivery, and processed again
        assert _observe(frozen, [{"flow": 5.0}] * 12, spec=spec) == first


def test_runs_are_held_for_at_most_max_assets_heard_within_the_gap() -> None:
    spec = {"version": 1, "sensors": ["flow"], "assets": {"z": [[1, 0.0]]}}  # every asset: 10 readings
    frozen = FrozenSensors(1.0, max_gap_s=300.0, max_assets=2)
    readings = [{"flow": 5.0}] * 10
    assert _observe(frozen, readings, asset="a", spec=spec) != {}
    assert _observe(frozen, readings, asset="b", spec=spec) != {}
    assert _observe(frozen, readings, asset="c", spec=spec) == {}  # a third, past the cap: not judged
    assert set(frozen._runs) == {"a", "b"}
    # "a" and "b" fall silent: once the gap has passed they are forgotten, and "c" is held.
    assert _observe(frozen, readings, asset="c", start=1000.0, spec=spec) != {}
    assert set(frozen._runs) == {"c"}


def test_an_asset_without_runs_is_held_to_the_fleets_longest() -> None:
    spec = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[2, 20.0]], "p2": [[5, 50.0]]}}
    out = _observe(FrozenSensors(3.0), [{"flow": 5.0}] * 20, asset="new", spec=spec)
    assert min(out) == 15  # p2's 5 readings and 50 s, times 3: the 16th reading spans 150 s


def test_a_run_carried_over_goes_on_at_the_assets_next_reading_of_the_same_value() -> None:
    stuck = {"sensor": "flow", "value": 5.0, "unchanged_readings": 12, "unchanged_s": 110.0}
    episode = Transition("open", "a1", "p1", 1000.0, 1000.0, 0.9, None, context=([], {}, [], [stuck]))
    for reading, still, expected in (
        ({"flow": 5.0}, False, [{**stuck, "unchanged_readings": 13, "unchanged_s": 4110.0}]),
        ({"flow": 5.5}, False, None),  # another value: a run of its own
        ({"flow": 5.0}, True, None),  # a stop ends it
    ):
        frozen = FrozenSensors(3.0)
        frozen.seed(episode)  # hours later, past any silence: the same transmitter, still stuck
        out = _observe(frozen, [reading], start=5000.0, still=[still])
        assert out.get(0) == expected, reading
    frozen = FrozenSensors(3.0)
    for context in (
        None,
        ([], {}, []),
        ([], {}, [], [{"sensor": "flow", "value": 5.0}]),
        ([], {}, [], ["x"]),
    ):
        frozen.seed(Transition("open", "a1", "p1", 1000.0, 1000.0, 0.9, None, context=context))
    assert _observe(frozen, [{"flow": 5.0}], start=5000.0) == {}  # nothing said stuck: nothing goes on


def test_nothing_is_judged_off_or_without_runs() -> None:
    assert _observe(FrozenSensors(0.0), [{"flow": 5.0}] * 50) == {}
    assert _observe(FrozenSensors(3.0), [{"flow": 5.0}] * 50, spec=None) == {}


def test_a_factor_under_one_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="frozen_sensor_factor") as caught:
        Settings.model_validate({"alerts": {"frozen_sensor_factor": 0.5}})
    assert "flags healthy sensors" in str(caught.value)
    assert Settings.model_validate({"alerts": {"frozen_sensor_factor": 0}}).alerts.frozen_sensor_factor == 0


def test_the_stuck_sensors_come_first_among_the_suspects() -> None:
    frozen = [{"sensor": "flow", "value": 5.0, "unchanged_readings": 12, "unchanged_s": 110.0}]
    suspects = [{"sensor": "head", "value": 2.0, "typical_value": 2.2}, {"sensor": "x", "value": 1.0}]
    out = frozen_first(frozen, suspects, 2)
    assert [e["sensor"] for e in out] == ["flow", "head"]
    assert out[0]["typical_value"] is None and out[0]["unchanged_readings"] == 12
    assert suspect_tag(out[0]) == "flow (stuck at 5 for 12 readings, 110 s)"
    assert frozen_first([], suspects, 1) == suspects[:1]


# -- through the daemon's batch --------------------------------------------------------------------
def _run(
    plant_model,
    *,
    factor: float | None = None,
    stuck: str = "flow_m3h",
    stop: bool = False,
    undo: bool = False,
    restart: int | None = None,
    alerts: dict | None = None,
):
    """Forty minutes of the plant read every 10 s (as its model's history), asset 1's ``stuck``
    sensor stuck from minute 10 on (``stop``: the machine stands still meanwhile; ``undo``: a batch
    that opens an alert is undone, as one whose output was not delivered, and processed again;
    ``restart``: at that minute a new daemon carries the open episodes over from the events); the
    alert events and the metrics (of the last daemon)."""
    alerts = {"open_after": 2, "window": 3, "resolve_after": 3} | (alerts or {})
    alerts |= {} if factor is None else {"frozen_sensor_factor": factor}
    settings = Settings.model_validate({"alerts": alerts})
    registry = CollectorRegistry()
    proc = BatchProcessor(settings, plant_model, "v1", PipelineMetrics(registry))
    fleet = Fleet(3, seed=11, run=1)
    asset, held, offset, events, t = fleet.asset_ids[1], None, 0, [], 0.0
    for minute in range(40):
        if minute == restart:
            registry = CollectorRegistry()
            proc = BatchProcessor(settings, plant_model, "v1", PipelineMetrics(registry))
            for partition, episodes in open_episodes(events, input_topic="in").items():
                proc.carry_over(("in", partition), episodes, now=float(t), replayed={})
        for _ in range(6):
            t, readings = fleet.step(10.0)
            batch = []
            for name, values in fleet.records(readings):
                if name == asset and minute >= 10:
                    values = _stopped(values) if stop else values
                    held = values[stuck] if held is None else held
                    values = values | {stuck: held}
                value = orjson.dumps({"asset_id": name, "ts": 1.7e9 + t, "values": values})
                batch.append(Rec("in", 0, offset, name.encode(), value, None, None))
                offset += 1
            point = proc.savepoint()
            out = proc.process(batch, now=t)
            if undo and out.opened:
                proc.rollback(point)
                out = proc.process(batch, now=t)
            proc.release(point)
            events += [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    return [e for e in events if e["state"] == "open"], registry, asset, events


@pytest.mark.parametrize("undo", [False, True])
def test_a_stuck_sensor_opens_an_alert_that_names_it_first(plant_model, undo: bool) -> None:
    opened, registry, asset, _ = _run(plant_model, undo=undo)
    assert [e["asset_id"] for e in opened] == [asset]  # the healthy machines: none
    first = opened[0]["suspect_sensors"][0]
    assert first["sensor"] == "flow_m3h" and first["unchanged_readings"] >= MIN_READINGS
    assert first["unchanged_s"] >= 10.0 * (first["unchanged_readings"] - 1)
    assert opened[0]["ts"] - 1.7e9 < 40 * 60  # within the stream
    assert registry.get_sample_value("dhag_readings_frozen_total") > 0
    # Its latest reading has the flow stuck, and nothing else: one series.
    assert registry.get_sample_value("dhag_asset_sensor_stuck", {"asset": asset, "sensor": "flow_m3h"}) == 1


def test_the_stuck_sensors_series_follow_the_latest_reading_and_the_asset() -> None:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, asset_limit=1)

    def stuck() -> set[tuple[str, str]]:
        (family,) = [m for m in registry.collect() if m.name == "dhag_asset_sensor_stuck"]
        return {(s.labels["asset"], s.labels["sensor"]) for s in family.samples}

    assert metrics.set_asset("p1", score=0.9, anomalous=True)
    metrics.set_stuck("p1", frozenset({"flow", "speed"}))
    assert stuck() == {("p1", "flow"), ("p1", "speed")}
    metrics.set_stuck("p1", frozenset({"speed"}))  # the flow moved again
    assert stuck() == {("p1", "speed")}
    assert not metrics.set_asset("p2", score=0.9, anomalous=True)  # beyond the asset limit: no series
    metrics.set_stuck("p2", frozenset({"flow"}))
    assert stuck() == {("p1", "speed")}
    metrics.forget_assets({"p1"})  # its partition taken away
    assert stuck() == set()


def test_off_or_at_standstill_a_frozen_value_is_no_fault(plant_model) -> None:
    opened, registry, _, _ = _run(plant_model, factor=0)
    assert not any("unchanged_readings" in s for e in opened for s in e["suspect_sensors"])
    assert registry.get_sample_value("dhag_readings_frozen_total") == 0
    (family,) = [m for m in registry.collect() if m.name == "dhag_asset_sensor_stuck"]
    assert family.samples == []
    opened, registry, _, _ = _run(plant_model, stop=True)  # a stopped machine reads one value
    assert registry.get_sample_value("dhag_readings_frozen_total") == 0


def test_a_retrained_candidate_keeps_its_parents_runs(plant_model) -> None:
    from test_pipeline_standby_gate import readings_of, standby_fleet

    from pipeline.config import RetrainSettings
    from pipeline.retrain.samples import TrainingData
    from pipeline.retrain.training import train_candidate

    # Its samples are readings picked apart in time, whose gaps say nothing of how long a value held.
    normal = readings_of(standby_fleet(1).run(2 * 3600, 10.0))
    settings = RetrainSettings(device="cpu", max_epochs=1, time_budget_s=30, min_normal_rows=100, seed=0)
    candidate = train_candidate(plant_model, TrainingData([], [], normal, []), settings)
    assert runs_of(candidate) == runs_of(plant_model) is not None


def test_a_sensor_stuck_across_a_restart_keeps_its_alert_open(plant_model) -> None:
    # No hold: three normal scores resolve an alert, as soon as its stuck readings stop counting.
    opened, registry, asset, events = _run(plant_model, restart=20, alerts={"resolve_hold_s": 0})
    assert [e["asset_id"] for e in opened] == [asset]  # opened before the restart, and no second one
    assert not [e for e in events if e["state"] == "resolved"]
    assert registry.get_sample_value("dhag_readings_frozen_total") >= 20 * 6 - 1  # every reading after


def test_a_model_swapped_in_is_judged_by_its_own_runs() -> None:
    from types import SimpleNamespace

    def active(longest: int) -> SimpleNamespace:
        runs = {"version": 1, "sensors": ["flow"], "assets": {"p1": [[longest, 0.0]]}}
        return SimpleNamespace(model=SimpleNamespace(metadata_={METADATA_KEY: runs}))

    def batch(start: int) -> SimpleNamespace:
        stamps = np.arange(start, start + 10, dtype=float)
        return SimpleNamespace(asset_ids=["p1"] * 10, timestamps=stamps, values=[{"flow": 5.0}] * 10)

    frozen, rows, still = FrozenSensors(1.0), np.arange(10), np.zeros(10, dtype=bool)
    strict, lenient = active(30), active(1)
    assert frozen.judge_batch(strict, batch(0), rows, still) == {}  # 10 of 30 needed
    # Swapped in between batches: its runs (10 readings needed) judge the run so far, 20 readings.
    assert sorted(frozen.judge_batch(lenient, batch(10), rows, still)) == list(range(10))
    # And back: the 30th reading of the run is the first the strict model's runs judge stuck.
    assert sorted(frozen.judge_batch(strict, batch(20), rows, still)) == [9]
