"""A machine started after a standstill reads cold until its bearing warms up (minutes to an hour):
every reading's bearing rise is far under what a plant model learned running, and on the simulated
plant a cold start opened an alert on every asset started. For ``alerts.warmup_s`` after an asset's
last reading at standstill, a reading that its cold bearing alone puts over the threshold is judged
normal; a fault in another sensor still opens an alert."""

from __future__ import annotations

from collections import namedtuple

import orjson
import pytest
from prometheus_client import CollectorRegistry
from test_pipeline_standstill import _stopped

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

Rec = namedtuple("Rec", "topic partition offset key value timestamp timestamp_type")
ALERTS = {"open_after": 2, "window": 3, "resolve_after": 3}


def _cold(fleet: Fleet, index: int) -> None:
    """The machine ``index`` as it starts after standing still long enough to cool to ambient."""
    physics = fleet.physics
    ambient = physics.ambient()[index]
    for state in (physics.bearing, physics.winding, physics.discharge_temp, *physics._clean.values()):
        state[index] = ambient


def _run(
    plant_model,
    *,
    warmup_s: float | None = None,
    flow: float = 1.0,
    index: int = 1,
    silent: bool = False,
    silence_s: float | None = None,
):
    """Five minutes of the plant running, asset ``index`` (a fan) stopped ten (``silent``: sending
    nothing meanwhile), then started cold for fifteen (its flow times ``flow`` once started); the alert
    events of the start and the metrics."""
    alerts = ALERTS | ({} if warmup_s is None else {"warmup_s": warmup_s})
    alerts |= {} if silence_s is None else {"warmup_after_silence_s": silence_s}
    registry = CollectorRegistry()
    proc = BatchProcessor(
        Settings.model_validate({"alerts": alerts}), plant_model, "v1", PipelineMetrics(registry)
    )
    fleet = Fleet(3, seed=11, run=1)
    stopped, offset, events = fleet.asset_ids[index], 0, []
    for minute in range(30):
        if minute == 15:
            _cold(fleet, index)
        for _ in range(6):
            t, readings = fleet.step(10.0)
            batch = []
            for asset, values in fleet.records(readings):
                if asset == stopped and 5 <= minute < 15 and silent:
                    continue  # a gateway that sends nothing of a stopped machine
                if asset == stopped and 5 <= minute < 15:
                    values = _stopped(values)
                elif asset == stopped and minute >= 15:
                    values = values | {"flow_m3h": values["flow_m3h"] * flow}
                value = orjson.dumps({"asset_id": asset, "ts": 1.7e9 + t, "values": values})
                batch.append(Rec("in", 0, offset, asset.encode(), value, None, None))
                offset += 1
            out = proc.process(batch, now=t)
            events += [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    assert all(e["asset_id"] == stopped for e in events)  # the others ran as in training throughout
    return [e for e in events if e["state"] == "open"], registry


def test_a_cold_start_opens_no_alert_and_is_counted(plant_model) -> None:
    opened, registry = _run(plant_model)
    assert opened == []
    assert registry.get_sample_value("dhag_readings_warming_up_total") > 0


def test_without_a_warm_up_the_cold_start_opens_an_alert(plant_model) -> None:
    # What the warm-up takes out: the cold bearing alone puts these readings over the threshold.
    opened, registry = _run(plant_model, warmup_s=0)
    assert len(opened) == 1 and opened[0]["top_sensors"][0]["sensor"] == "bearing_rise_pu"
    assert registry.get_sample_value("dhag_readings_warming_up_total") == 0


@pytest.mark.parametrize("warmup_s", [None, 0])
def test_a_fault_at_a_cold_start_still_opens_an_alert(plant_model, warmup_s) -> None:
    # Started with its flow at half (a closed valve, a blocked suction): the bearing's usual rise does
    # not explain that reading away.
    opened, _ = _run(plant_model, warmup_s=warmup_s, flow=0.5)
    assert len(opened) == 1


def test_the_warm_up_ends_warmup_s_after_the_standstill(plant_model) -> None:
    # With a warm-up shorter than the stop-to-fault gap, the cold start is judged as any reading.
    opened, registry = _run(plant_model, warmup_s=30)
    assert len(opened) == 1
    assert registry.get_sample_value("dhag_readings_warming_up_total") <= 3  # its first 30 s


def test_a_machine_silent_while_it_stood_still_warms_up_after_it_starts(plant_model) -> None:
    # Its gateway sent nothing while it stood still: the first reading, ten minutes after its last,
    # reads running and cold. Before, only a standstill reading told a stop, and the start alerted.
    opened, registry = _run(plant_model, silent=True)
    assert opened == []
    assert registry.get_sample_value("dhag_readings_warming_up_total") > 0
    opened, registry = _run(plant_model, silent=True, silence_s=0)
    assert len(opened) == 1 and opened[0]["top_sensors"][0]["sensor"] == "bearing_rise_pu"


def test_a_silence_shorter_than_warmup_after_silence_s_is_no_start(plant_model) -> None:
    opened, registry = _run(plant_model, silent=True, silence_s=3600)
    assert len(opened) == 1
    assert registry.get_sample_value("dhag_readings_warming_up_total") == 0


def test_the_assets_kept_for_a_silence_are_capped_at_max_assets() -> None:
    import numpy as np

    from pipeline.warmup import WarmUp

    # A flood of made-up ids: past a quarter more than max_assets, those heard from least recently go.
    warm = WarmUp(3600.0, silence_s=600.0, max_assets=4)
    ids = [f"made-up-{i}" for i in range(6)]
    warm.note(ids, [float(i) for i in range(6)], np.zeros(6, dtype=bool))
    assert sorted(warm._seen) == ids[2:]
    # A machine kept is still known to have started after its silence.
    warm.note(["made-up-5"], [5.0 + 700.0], np.zeros(1, dtype=bool))
    assert warm.warming("made-up-5", 705.0)
