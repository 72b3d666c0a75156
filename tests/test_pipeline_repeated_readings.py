"""A reading delivered again (a producer's retry without idempotence, a gateway's redelivery) counts once
in its asset's alert hysteresis: before, one faulty reading delivered three times opened an alert
(``open_after`` 3 of ``window`` 5), and ten copies of one normal reading resolved one. A repeat is a
reading of the asset with the ts and sensor values of one of its last ``window`` readings, whatever it
scored; it is still scored and published, and counted in ``dhag_readings_repeated_total``."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import orjson
import torch
from prometheus_client import CollectorRegistry

from pipeline.alerts import AlertTracker
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_kafka import normal_rows, reading  # noqa: E402
from test_pipeline_carryover_repartition import Rec  # noqa: E402


def _processor(fitted) -> tuple[BatchProcessor, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = Settings.model_validate({"kafka": {"topics": {"scores": "sc"}}})
    return BatchProcessor(settings, fitted, "v1", PipelineMetrics(registry)), registry


def _alerts(out) -> list[str]:
    return [orjson.loads(m.value)["state"] for m in out.messages if m.topic == "anomaly-alerts"]


def test_one_faulty_reading_delivered_three_times_opens_no_alert(fitted) -> None:
    proc, registry = _processor(fitted)
    row = normal_rows(np.random.default_rng(1), 1)[0]
    row[3] += 9.0  # far over the threshold
    value = reading("p1", 1.79e9, row)
    out = proc.process([Rec("in", 0, i, b"p1", value) for i in range(3)], now=1.0)
    assert _alerts(out) == []
    assert len([m for m in out.messages if m.topic == "sc"]) == 3  # each still scored
    assert registry.get_sample_value("dhag_readings_repeated_total") == 2
    # Three faulty readings of their own open it.
    rows = normal_rows(np.random.default_rng(2), 3)
    rows[:, 3] += 9.0
    later = [Rec("in", 0, 3 + i, b"p1", reading("p1", 1.79e9 + 1 + i, r)) for i, r in enumerate(rows)]
    assert _alerts(proc.process(later, now=2.0)) == ["open"]


def _over(shift: float) -> np.ndarray:
    row = normal_rows(np.random.default_rng(1), 1)[0]
    row[3] += shift
    return row


def test_a_reading_delivered_again_after_a_model_swap_counts_once(fitted) -> None:
    # A model swapped in scores the same reading otherwise: it is the same reading all the same.
    registry = CollectorRegistry()
    settings = Settings.model_validate({"alerts": {"open_after": 2, "window": 3}})
    proc = BatchProcessor(settings, fitted, "v1", PipelineMetrics(registry))
    value = reading("p1", 1.79e9, _over(20.0))
    assert _alerts(proc.process([Rec("in", 0, 0, b"p1", value)], now=1.0)) == []
    retrained = copy.deepcopy(fitted)
    with torch.no_grad():
        for weights in retrained.net_.parameters():
            weights.mul_(1.05)
    proc.swap_model(proc.prepare_model(retrained, "v2"))
    out = proc.process([Rec("in", 0, 1, b"p1", value)], now=2.0)
    first, again = (model.decision_function(_over(20.0)[None])[0] for model in (fitted, retrained))
    assert again != first and min(first, again) > fitted.threshold_  # scored otherwise, over both times
    assert _alerts(out) == []
    assert registry.get_sample_value("dhag_readings_repeated_total") == 1


def test_two_readings_of_one_time_that_score_alike_both_count(fitted) -> None:
    # A device dating its readings to the second sends two in one second; both far off, both score the
    # saturated 1.0.
    proc, registry = _processor(fitted)
    rows = normal_rows(np.random.default_rng(2), 3)
    rows[:, 3] += (1e4, 2e4, 3e4)
    assert fitted.decision_function(rows).tolist() == [1.0, 1.0, 1.0]
    recs = [Rec("in", 0, i, b"p1", reading("p1", 1.79e9, row)) for i, row in enumerate(rows)]
    assert _alerts(proc.process(recs, now=1.0)) == ["open"]
    assert registry.get_sample_value("dhag_readings_repeated_total") == 0


def test_copies_of_one_normal_reading_do_not_resolve_an_episode() -> None:
    t = AlertTracker(open_after=1, window=5, resolve_after=3, quiet_s=60)
    assert t.observe("p1", True, 0.9, 1.0, now=0, seed="in/0/1").kind == "open"
    for i in range(5):
        assert t.observe("p1", False, 0.2, 2.0, now=1, seed=f"in/0/{2 + i}") is None
    assert t.is_open("p1") and t.repeats == 4
    assert t.observe("p1", False, 0.2, 3.0, now=2, seed="in/0/8") is None  # another reading
    assert t.observe("p1", False, 0.3, 4.0, now=3, seed="in/0/9").kind == "resolved"


def test_a_reading_is_told_by_its_values_in_any_order_whatever_they_hold() -> None:
    t = AlertTracker(open_after=2, window=3, resolve_after=1, quiet_s=60)
    extra = {"firmware": [1, 2], "site": {"row": 3, "bay": "b"}}  # what the model does not read
    assert t.observe("p1", True, 0.9, 1.0, now=0, seed="1", values={"a": 1.0, **extra}) is None
    # re-encoded by a gateway (keys reordered, 1.0 written 1) and scored otherwise: the same reading
    again = {"site": {"bay": "b", "row": 3}, "a": 1, "firmware": [1, 2]}
    assert t.observe("p1", True, 0.7, 1.0, now=0, seed="2", values=again) is None
    assert t.repeats == 1
    assert t.observe("p1", True, 0.9, 1.0, now=0, seed="3", values={"a": 2.0, **extra}).kind == "open"


def test_readings_alike_at_other_times_or_beyond_the_window_count() -> None:
    t = AlertTracker(open_after=3, window=3, resolve_after=3, quiet_s=60)
    # a stuck sensor reads the same at every ts: each reading counts
    assert [t.observe("p1", True, 0.9, float(ts), now=0, seed=str(ts)) for ts in range(2)] == [None, None]
    assert t.observe("p1", True, 0.9, 2.0, now=0, seed="2").kind == "open"
    u = AlertTracker(open_after=2, window=2, resolve_after=1, quiet_s=60)
    for ts, score in ((1.0, 0.9), (2.0, 0.1), (3.0, 0.1)):
        u.observe("p2", score > 0.5, score, ts, now=0, seed=str(ts))
    # a reading delivered again after the window moved on counts again: only the window is kept
    assert u.observe("p2", True, 0.9, 1.0, now=0, seed="1b") is None
    assert u.observe("p2", True, 0.9, 4.0, now=0, seed="4").kind == "open"
    assert u.repeats == 0


def test_an_assets_state_stays_about_a_kilobyte_with_its_readings_told() -> None:
    # docs/service-operations.md: about 1 KB an asset, 100 MB at alerts.max_assets; a deque of the window's
    # readings would near double it.
    import tracemalloc

    t = AlertTracker(open_after=3, window=5, resolve_after=10, quiet_s=300)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(5000):
            for k in range(6):
                t.observe(f"asset-{i:05d}", False, 0.1 + k / 100, 1.79e9 + k, now=0, seed="in/0/1")
        per_asset = (tracemalloc.get_traced_memory()[0] - before) / 5000
    finally:
        tracemalloc.stop()
    assert per_asset < 1200, per_asset
