"""``dhag_asset_state``: whether a plant model's asset runs (0), stands still (1) or warms up after a
standstill (2). A stopped machine scores near 1.0 and ``dhag_asset_score`` exports that score, judged
normal: without its state, a dashboard drew a stopped standby pump as the plant's most anomalous
machine while no alert was open."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_standstill import _stopped
from test_pipeline_warmup import ALERTS, Rec, _cold

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet

STATE = "dhag_asset_state"


def _processor(model, *, asset_limit: int = 200, **alerts) -> tuple[BatchProcessor, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = Settings.model_validate({"alerts": ALERTS | alerts})
    return BatchProcessor(settings, model, "v1", PipelineMetrics(registry, asset_limit=asset_limit)), registry


def _day(proc: BatchProcessor, registry: CollectorRegistry) -> tuple[list[list[float | None]], Fleet, float]:
    """Five minutes of three machines running, the second (a fan) stopped for ten, then started cold
    for fifteen; every asset's state after each minute, the fleet and the last record time."""
    fleet = Fleet(3, seed=11, run=1)
    stopped, offset, seen, t = fleet.asset_ids[1], 0, [], 0.0
    for minute in range(30):
        if minute == 15:
            _cold(fleet, 1)
        for _ in range(6):
            t, readings = fleet.step(10.0)
            batch = []
            for asset, values in fleet.records(readings):
                values = _stopped(values) if asset == stopped and 5 <= minute < 15 else values
                value = orjson.dumps({"asset_id": asset, "ts": 1.7e9 + t, "values": values})
                batch.append(Rec("in", 0, offset, asset.encode(), value, None, None))
                offset += 1
            proc.process(batch, now=t)
        seen.append([registry.get_sample_value(STATE, {"asset": a}) for a in fleet.asset_ids])
    return seen, fleet, t


def test_a_machine_reads_running_stopped_then_warming_up(plant_model) -> None:
    proc, registry = _processor(plant_model)  # alerts.warmup_s: 3600 (default)
    seen, fleet, _ = _day(proc, registry)
    assert seen[:5] == [[0, 0, 0]] * 5
    assert seen[5:15] == [[0, 1, 0]] * 10
    assert seen[15:] == [[0, 2, 0]] * 15  # within the hour after its last reading at standstill
    # Its score is still exported as the model made it: the state is what says it was judged normal.
    assert registry.get_sample_value("dhag_asset_score", {"asset": fleet.asset_ids[1]}) is not None


@pytest.mark.parametrize("warmup_s", [30, 0])
def test_a_machine_runs_again_once_its_warm_up_is_over(plant_model, warmup_s) -> None:
    # The first minute after the start reads 10 s to 60 s after the last standstill: past 30 s, it runs.
    proc, registry = _processor(plant_model, warmup_s=warmup_s)
    seen, _, _ = _day(proc, registry)
    assert seen[5:15] == [[0, 1, 0]] * 10
    assert seen[15:] == [[0, 0, 0]] * 15


def test_the_state_goes_with_the_assets_other_series(plant_model) -> None:
    proc, registry = _processor(plant_model)
    _, fleet, t = _day(proc, registry)
    first, *silent = fleet.asset_ids
    # Assets silent for alerts.quiet_s are forgotten: every series of theirs goes.
    _, readings = fleet.step(10.0)
    value = orjson.dumps(
        {"asset_id": first, "ts": 1.7e9 + t + 400, "values": dict(fleet.records(readings))[first]}
    )
    proc.process([Rec("in", 0, 10**6, first.encode(), value, None, None)], now=t + 400)
    proc.sweep(now=t + 400)
    assert [registry.get_sample_value(STATE, {"asset": a}) for a in silent] == [None, None]
    assert registry.get_sample_value("dhag_asset_score", {"asset": silent[0]}) is None
    assert registry.get_sample_value(STATE, {"asset": first}) == 0
    # A revoked partition takes its assets' series with it.
    proc.drop_partitions([("in", 0)])
    assert registry.get_sample_value(STATE, {"asset": first}) is None


def test_an_asset_beyond_the_asset_limit_gets_no_state(plant_model) -> None:
    proc, registry = _processor(plant_model, asset_limit=2)
    seen, _, _ = _day(proc, registry)
    assert seen[-1] == [0, 2, None]
    assert registry.get_sample_value("dhag_asset_series_refused_total") > 0


def test_a_raw_sensor_model_exports_no_state(fitted) -> None:
    # It knows no machine: no speed or power of an asset's usual to tell a stop by.
    proc, registry = _processor(fitted)
    rows = normal(np.random.default_rng(0), 3)
    proc.process(
        [Rec("in", 0, i, b"p", reading("p", float(i), row), None, None) for i, row in enumerate(rows)]
    )
    assert registry.get_sample_value("dhag_asset_score", {"asset": "p"}) is not None
    assert registry.get_sample_value(STATE, {"asset": "p"}) is None
