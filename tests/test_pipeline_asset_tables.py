"""After a burst of asset ids has gone, the tables that remembered them are rebuilt at the fleet's size:
a dict or a set keeps its table as entries leave, so a month-long daemon would keep the burst's memory."""

from __future__ import annotations

import sys
from collections import namedtuple

import numpy as np
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")
SMALL = 4096  # bytes: a set of a few ids; one sized for thousands takes hundreds of KB


def test_the_anomalous_assets_beyond_the_limit_are_held_in_a_table_that_shrinks_again() -> None:
    metrics = PipelineMetrics(CollectorRegistry(), asset_limit=1)
    metrics.set_asset("listed", score=0.1, anomalous=False)
    burst = {f"made-up-{i}" for i in range(5000)}
    for asset in burst:
        metrics.set_asset(asset, score=0.9, anomalous=True)
    assert len(metrics._unlisted) == 5000
    metrics.forget_assets(burst)
    assert not metrics._unlisted and sys.getsizeof(metrics._unlisted) < SMALL
    for asset in ("a", "b"):  # resolved one by one: the same
        metrics.set_asset(asset, score=0.9, anomalous=True)
    for i in range(5000):
        metrics.set_asset(f"other-{i}", score=0.9, anomalous=True)
    for i in range(5000):
        metrics.set_asset(f"other-{i}", score=0.1, anomalous=False)
    assert metrics._unlisted == {"a", "b"} and sys.getsizeof(metrics._unlisted) < SMALL


def test_the_assets_a_partition_remembers_are_held_in_a_table_that_shrinks_again(fitted) -> None:
    settings = Settings.model_validate({"alerts": {"quiet_s": 60.0}})
    proc = BatchProcessor(settings, fitted, "v7", PipelineMetrics(CollectorRegistry(), asset_limit=10_000))
    rows = normal(np.random.default_rng(4), 6000)
    recs = [Rec("in", 0, i, b"k", reading(f"made-up-{i}", float(i), row)) for i, row in enumerate(rows)]
    proc.process(recs, now=0.0)
    assert len(proc._assets[("in", 0)]) == 6000  # each has series, remembered to drop them
    proc.process([Rec("in", 0, 6000, b"k", reading("pump-1", 6000.0, rows[0]))], now=30.0)
    proc.sweep(now=70.0)  # the burst is forgotten: silent for 60 s
    assert proc._assets[("in", 0)] == {"pump-1"}
    assert sys.getsizeof(proc._assets[("in", 0)]) < SMALL


def test_the_clock_offsets_of_a_burst_of_assets_are_held_in_tables_that_shrink_again() -> None:
    from prometheus_client import Gauge

    from pipeline.clockoffset import ClockOffsets

    gauge = Gauge("offset_seconds", "Offset.", ["asset"], registry=CollectorRegistry())
    listed: set[str] = set()
    offsets = ClockOffsets(gauge, listed=listed, limit=10_000)
    listed.update(["pump-1", *(f"made-up-{i}" for i in range(5000))])
    offsets.update(dict.fromkeys(listed, -1.0), now=0.0)
    # Only dead letters dated hours ahead: each asset's offset series is all that names it.
    offsets.update({}, now=0.0, ahead={f"fast-{i}": (7200.0, ("in", 0)) for i in range(4000)})
    assert len(offsets._windows) == 9001 and len(offsets._apart) == 4000
    offsets.update({}, now=30.0, ahead={"fast-0": (7200.0, ("in", 0))})
    offsets.expire(before=10.0)  # the silent ones go
    assert list(offsets._apart) == ["fast-0"] and sys.getsizeof(offsets._apart) < SMALL
    gone = {f"made-up-{i}" for i in range(5000)}
    offsets.forget(gone)
    listed -= gone
    assert set(offsets._windows) == {"pump-1", "fast-0"} and sys.getsizeof(offsets._windows) < SMALL


def test_the_listed_assets_and_their_suspects_are_held_in_tables_that_shrink_again() -> None:
    metrics = PipelineMetrics(CollectorRegistry(), asset_limit=10_000)
    burst = {f"made-up-{i}" for i in range(5000)}
    for asset in [*burst, "pump-1"]:
        metrics.set_asset(asset, score=0.9, anomalous=True)
        metrics.set_suspect(asset, "flow")
    metrics.forget_assets(burst)
    assert metrics._assets == {"pump-1"} and sys.getsizeof(metrics._assets) < SMALL
    assert metrics._suspects == {"pump-1": "flow"} and sys.getsizeof(metrics._suspects) < SMALL
    assert metrics.clock_offsets.listed is metrics._assets  # the clock offsets follow the same assets
    assert metrics.set_asset("made-up-1", score=0.1, anomalous=False)
    assert "made-up-1" in metrics.clock_offsets.listed
