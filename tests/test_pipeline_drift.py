"""The score-drift monitor: what it reports, and what it must not."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.drift import ScoreDriftMonitor

DAY = 86_400.0


def _plant(days: float, *, every_s: float = 10.0, level: float = 0.3, seed: int = 0):
    """Scores of a healthy plant: a daily load cycle (+-0.06, as the simulated plant's model scores)
    plus reading noise, one score every ``every_s`` seconds."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, days * DAY, every_s)
    return t, level + 0.06 * np.sin(2 * np.pi * t / DAY) + rng.normal(0, 0.04, t.size)


def _feed(mon: ScoreDriftMonitor, t: np.ndarray, scores: np.ndarray, batch: int = 500) -> list:
    events = []
    for i in range(0, t.size, batch):
        events += mon.update("v1", scores[i : i + batch], t[i : i + batch])
    return events


def test_a_daily_load_cycle_is_not_drift_however_fast_the_plant_reports() -> None:
    # Fed every score, ADWIN took the cycle for a change several times a day, more often the faster
    # the plant reported; bucket medians give it the same few hundred values a day at any rate.
    t, scores = _plant(7, every_s=2.0)
    assert _feed(ScoreDriftMonitor(bucket_s=300), t, scores) == []
    every_score = ScoreDriftMonitor(bucket_s=0)
    assert len(every_score.update("v1", scores)) >= 7  # the former behaviour, for contrast


def test_a_lasting_shift_of_the_plant_is_reported_within_hours() -> None:
    t, scores = _plant(4)
    moved = t >= 2 * DAY
    scores[moved] += 0.08
    events = _feed(ScoreDriftMonitor(bucket_s=300), t, scores)
    assert events, "a shift larger than the daily cycle, for two days, went unreported"
    first_at = t[events[0].scores_seen - 1]
    assert 2 * DAY < first_at < 2 * DAY + 12 * 3600


def test_one_asset_in_fault_among_many_does_not_move_the_median() -> None:
    # 20 assets report in turn; one of them scores 0.95 for six hours, then recovers.
    t, scores = _plant(3, every_s=3.0)
    asset = (np.arange(t.size) % 20) == 0
    fault = asset & (t > DAY) & (t < DAY + 6 * 3600)
    scores[fault] = 0.95
    assert _feed(ScoreDriftMonitor(bucket_s=300), t, scores) == []


def test_buckets_follow_record_time_and_late_scores_join_the_open_bucket() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    mon.update("v1", [0.2, 0.2], [1000.0, 1100.0])
    assert mon._bucket is not None and mon._bucket.index == 3
    # A lagging partition's score (ts 10 s) and a later one: time does not go back.
    mon.update("v1", [0.9, 0.4], [10.0, 1300.0])
    assert mon._bucket.index == 4 and int(mon._bucket.counts.sum()) == 1
    assert mon._detectors["v1"].n_detections == 0 and mon._detectors["v1"].width == 1  # bucket 3 closed
    assert mon._detectors["v1"].estimation == pytest.approx(0.2, abs=0.001)  # its median, 0.9 included
    # Non-finite scores or times are left out, not fed.
    assert mon.update("v1", [float("nan"), 0.5], [1400.0, float("inf")]) == []
    assert int(mon._bucket.counts.sum()) == 1


def test_a_backlog_read_at_once_fills_the_buckets_of_its_record_time() -> None:
    # A day of readings arriving in one batch after an outage is a day of buckets, not one.
    t, scores = _plant(1)
    mon = ScoreDriftMonitor(bucket_s=300)
    mon.update("v1", scores, t)
    assert mon._detectors["v1"].width == DAY / 300 - 1  # every bucket but the open one


def test_a_new_model_version_starts_afresh() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    mon.update("v1", [0.2, 0.3], [0.0, 400.0])
    mon.update("v2", [0.8], [700.0])
    assert list(mon._detectors) == ["v2"] and mon._detectors["v2"].width == 0
    assert mon._bucket is not None and int(mon._bucket.counts.sum()) == 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="record times"):
        ScoreDriftMonitor(bucket_s=300).update("v1", [0.1])
    with pytest.raises(ValueError, match="2 scores but 1 record times"):
        ScoreDriftMonitor(bucket_s=300).update("v1", [0.1, 0.2], [5.0])
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bucket_s"):
            ScoreDriftMonitor(bucket_s=bad)


def test_the_setting_is_checked_at_start_up() -> None:
    from pydantic import ValidationError

    from pipeline.config import DriftSettings

    assert DriftSettings().bucket_s == 300.0 and DriftSettings(bucket_s=0).bucket_s == 0.0
    for bad in (-5.0, float("nan")):
        with pytest.raises(ValidationError, match="bucket_s"):
            DriftSettings(bucket_s=bad)
