"""The alert state is capped (``alerts.max_assets``): a producer sending made-up asset ids by the million
keeps the daemon's memory bounded, and an asset with an open alert is never dropped to make room."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from pipeline.config import AlertSettings, Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.trackers import Trackers

Rec = namedtuple("Rec", "topic partition offset key value")
_HYSTERESIS = {"open_after": 1, "window": 1, "resolve_after": 1, "quiet_s": 600.0}


def _observe(trackers: Trackers, asset: str, over: bool, now: float, partition: int = 0) -> object:
    tracker = trackers.of(("in", partition))
    return tracker.observe(asset, over, 0.9 if over else 0.1, now, now=now, seed=f"{asset}/{now}")


def test_the_setting_has_a_default_and_is_checked() -> None:
    assert AlertSettings().max_assets == 100_000
    for bad in (0, -1):
        with pytest.raises(ValidationError, match="max_assets"):
            Settings.model_validate({"alerts": {"max_assets": bad}})


def test_made_up_ids_are_held_up_to_the_cap_across_partitions() -> None:
    trackers = Trackers(max_assets=100, **_HYSTERESIS)
    for i in range(5000):
        _observe(trackers, f"made-up-{i}", False, float(i), partition=i % 3)
    held = sum(len(t) for t in trackers.values())
    assert 90 <= held <= 100
    # The least recently seen went: the latest ids are all still held.
    assert all(f"made-up-{i}" in trackers[("in", i % 3)] for i in range(4990, 5000))
    assert trackers.room.take_counts() == (5000 - held, 0)
    assert trackers.room.take_counts() == (0, 0)  # counted once


def test_an_asset_with_an_open_alert_is_never_evicted() -> None:
    trackers = Trackers(max_assets=10, **_HYSTERESIS)
    assert _observe(trackers, "faulty", True, 0.0).kind == "open"  # the least recently seen of all
    for i in range(1000):
        _observe(trackers, f"made-up-{i}", False, 1.0 + i, partition=1)
    assert trackers[("in", 0)].is_open("faulty")
    # Its episode goes on, and resolves as ever.
    assert _observe(trackers, "faulty", False, 2000.0).resolved_by == "normal_scores"


def test_with_every_held_asset_alerting_a_new_one_gets_no_state() -> None:
    trackers = Trackers(max_assets=3, **_HYSTERESIS)
    for i in range(3):
        _observe(trackers, f"faulty-{i}", True, float(i))
    assert _observe(trackers, "new", True, 10.0) is None  # would open, but there is no room
    assert "new" not in trackers[("in", 0)] and len(trackers[("in", 0)]) == 3
    assert all(trackers[("in", 0)].is_open(f"faulty-{i}") for i in range(3))
    assert trackers.room.take_counts() == (0, 1)
    # Once one resolves, its asset (no open alert) makes room for the new one.
    assert _observe(trackers, "faulty-0", False, 11.0).resolved_by == "normal_scores"
    assert _observe(trackers, "new", True, 12.0).kind == "open"
    assert "faulty-0" not in trackers[("in", 0)]
    assert trackers.room.take_counts() == (1, 0)


def test_an_eviction_is_undone_with_its_batch() -> None:
    trackers = Trackers(max_assets=2, **_HYSTERESIS)
    _observe(trackers, "a", False, 0.0)
    _observe(trackers, "b", False, 1.0)
    point = trackers.savepoint()
    _observe(trackers, "c", False, 2.0)
    assert "a" not in trackers[("in", 0)]
    trackers.rollback(point)
    assert sorted(trackers[("in", 0)]._assets) == ["a", "b"]


def test_the_daemon_counts_evictions_and_frees_the_evicted_assets_series(fitted) -> None:
    settings = Settings.model_validate({"alerts": {"max_assets": 50}})
    reg = CollectorRegistry()
    proc = BatchProcessor(settings, fitted, "v7", PipelineMetrics(reg))
    rows = normal(np.random.default_rng(3), 300)
    recs = [Rec("in", 0, i, b"k", reading(f"made-up-{i}", float(i), row)) for i, row in enumerate(rows)]
    for start in range(0, 300, 30):
        proc.process(recs[start : start + 30], now=float(start))
    assert len(proc.trackers[("in", 0)]) <= 50
    evicted = reg.get_sample_value("dhag_alert_states_evicted_total")
    assert evicted == 300 - len(proc.trackers[("in", 0)])
    assert reg.get_sample_value("dhag_alert_states_refused_total") == 0
    # The per-asset series follow the alert state: an evicted asset's go with it.
    assert proc._assets[("in", 0)] <= set(proc.trackers[("in", 0)]._assets)
    assert reg.get_sample_value("dhag_asset_score", {"asset": "made-up-0"}) is None
    assert reg.get_sample_value("dhag_asset_score", {"asset": "made-up-299"}) is not None
