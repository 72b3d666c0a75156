"""``bench plant`` counts the episodes that began while their asset's alert was already open."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import AlertSettings
from pipeline.plantbench import pool, summarize, tally
from pipeline.plantepisodes import openings_at
from pipeline.simulator.faults import Fault


def _stream(times: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"asset_id": ["pump-01"] * len(times), "t": times, "fault": [""] * len(times)})


def _fault(kind: str, onset: float, duration: float) -> Fault:
    return Fault(asset=0, asset_id="pump-01", kind=kind, onset=onset, duration=duration, severity=1.0)


def test_each_alert_says_when_it_resolved_and_one_still_open_resolves_never() -> None:
    stream = _stream([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    rule = AlertSettings(open_after=2, window=2, resolve_after=2, resolve_hold_s=0)
    flags = np.array([True, True, False, False, True, True])
    assert openings_at(stream, flags, rule) == [("pump-01", 2.0, 1, 6.0), ("pump-01", 10.0, 5, np.inf)]


def test_an_episode_begun_under_an_open_alert_is_counted_covered_and_undetected() -> None:
    stream = _stream([1000.0 + 2 * i for i in range(600)])
    bearing = _fault("bearing_wear", 1100.0, 100.0)  # begins under the alert opened at 1050
    stuck = _fault("sensor_stuck", 1500.0, 100.0)  # the alert before it resolved at 1450: its own alert
    drift = _fault("sensor_stuck", 1800.0, 100.0)  # begins under the alert of 1750, resolved and paged again
    spans = [("pump-01", 1050.0, 1300.0), ("pump-01", 1400.0, 1450.0), ("pump-01", 1510.0, 1600.0)]
    spans += [("pump-01", 1750.0, 1820.0), ("pump-01", 1850.0, np.inf), ("fan-01", 1000.0, np.inf)]
    openings = [(asset, t) for asset, t, _ in spans]
    counts = tally(openings, [bearing, stuck, drift], stream, grace_s=120.0, spans=spans)
    assert summarize(counts)["detection_rate"] == {"bearing_wear": 0.0, "sensor_stuck": 1.0}
    assert counts["covered_by_open_alert"] == {"bearing_wear": 1, "sensor_stuck": 1}
    assert counts["covered_by_open_alert_undetected"] == {"bearing_wear": 1, "sensor_stuck": 0}
    # Scenarios pool by adding up; a fault-free day (no spans given) adds nothing and keeps the keys.
    quiet = tally([], [], stream, grace_s=120.0)
    assert "covered_by_open_alert" not in quiet
    summary = summarize(pool([counts, counts, quiet]))
    assert summary["covered_by_open_alert"] == {"bearing_wear": 2, "sensor_stuck": 2}
    assert summary["covered_by_open_alert_undetected"] == {"bearing_wear": 2, "sensor_stuck": 0}


def test_the_hold_keeps_an_alert_open_into_the_next_fault_which_is_then_covered_not_found() -> None:
    # High readings 1000-1100 open an alert; a fault begins at 1200 and reads high from 1210 on.
    times = [1000.0 + 2 * i for i in range(300)]
    stream = _stream(times)
    flags = np.array([t <= 1100.0 or t >= 1210.0 for t in times])
    fault = _fault("cavitation", 1200.0, 200.0)
    summaries = {}
    for hold in (0.0, 300.0):
        rule = AlertSettings(open_after=3, window=5, resolve_after=10, resolve_hold_s=hold)
        opened = openings_at(stream, flags, rule)
        spans = [(asset, t, until) for asset, t, _, until in opened]
        counts = tally([(asset, t) for asset, t, _ in spans], [fault], stream, grace_s=120.0, spans=spans)
        summaries[hold] = summarize(counts)
    # Without a hold the alert resolved at 1120 and the fault paged anew; with it, one alert covers both.
    assert summaries[0.0]["detection_rate"] == {"cavitation": 1.0}
    assert summaries[0.0]["covered_by_open_alert"] == {"cavitation": 0}
    assert summaries[300.0]["detection_rate"] == {"cavitation": 0.0}
    assert summaries[300.0]["covered_by_open_alert"] == {"cavitation": 1}
    assert summaries[300.0]["covered_by_open_alert_undetected"] == {"cavitation": 1}
