"""The score-drift monitor: what it reports, and what it must not."""

from __future__ import annotations

import math

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
    # Within 8 h: ADWIN checks every bucket (river's default, every 32nd value, took 9.1 h here), and
    # a bucket waits an hour for late readings.
    assert 2 * DAY < first_at < 2 * DAY + 8 * 3600


def test_one_asset_in_fault_among_many_does_not_move_the_median() -> None:
    # 20 assets report in turn; one of them scores 0.95 for six hours, then recovers.
    t, scores = _plant(3, every_s=3.0)
    asset = (np.arange(t.size) % 20) == 0
    fault = asset & (t > DAY) & (t < DAY + 6 * 3600)
    scores[fault] = 0.95
    assert _feed(ScoreDriftMonitor(bucket_s=300), t, scores) == []


class _Recorder:
    """Stands in for ADWIN: keeps what it is fed."""

    def __init__(self) -> None:
        self.fed: list[float] = []
        self.drift_detected = False
        self.estimation, self.width = 0.0, 0

    def update(self, value: float) -> None:
        self.fed.append(value)


def _recording(mon: ScoreDriftMonitor, version: str = "v1") -> list[float]:
    mon._detector(version)
    recorder = _Recorder()
    mon._detectors[version] = recorder  # type: ignore[assignment]
    return recorder.fed


def test_buckets_follow_record_time_across_partitions_and_polls() -> None:
    # Kafka hands over one partition's records, then another's: two partitions, an hour of backlog
    # each, in two polls. Partition A scores 0.2, once a bucket; partition B 0.6, three times.
    mon = ScoreDriftMonitor(bucket_s=300)
    fed = _recording(mon)
    hour = np.arange(0.0, 3600.0, 300.0)
    mon.update("v1", np.full(hour.size, 0.2), hour + 7)
    b_times = np.repeat(hour, 3) + np.tile([10.0, 100.0, 200.0], hour.size)
    mon.update("v1", np.full(b_times.size, 0.6), b_times)
    # Later readings of both (in one poll, B's before A's) close the hour's buckets.
    later = np.arange(3600.0, 2 * 3600.0 + 301, 60.0)
    mon.update("v1", np.r_[np.full(later.size, 0.6), np.full(later.size, 0.2)], np.r_[later, later])
    assert len(fed) >= hour.size
    # Every bucket of the backlog hour held one A and three B scores: median 0.6, not 0.2.
    assert fed[: hour.size] == pytest.approx([0.6005] * hour.size)


def test_a_score_older_than_every_open_bucket_joins_the_oldest() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    mon.update("v1", [0.2], [7200.0])  # bucket 24
    mon.update("v1", [0.2], [7200.0 + 3 * 3600])  # bucket 60: 24 closes
    mon.update("v1", [0.9, 0.9], [10.0, 7200.0])  # far behind: both join bucket 60, the oldest open
    assert list(mon._open) == [60] and int(mon._open[60].counts.sum()) == 3


def test_one_record_dated_years_ahead_does_not_stop_drift_detection() -> None:
    # Every later score joined the far bucket, which never closed: a shift went unreported.
    now = [1_800_000_000.0]
    t, scores = _plant(4)
    t = t + now[0] - 4 * DAY
    scores[t >= t[0] + 2 * DAY] += 0.15
    mon = ScoreDriftMonitor(bucket_s=300, clock=lambda: now[0])
    events = mon.update("v1", scores[:5000], t[:5000])
    events += mon.update("v1", [0.5], [4_102_444_800.0])  # 2100-01-01
    events += _feed(mon, t[5000:], scores[5000:])
    assert mon.future_scores == 1 and events
    # Up to bucket_s ahead is fine (a gateway whose clock runs a little fast).
    assert ScoreDriftMonitor(bucket_s=300, clock=lambda: 0.0).update("v1", [0.5], [299.0]) == []


def test_the_median_of_a_bucket() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    fed = _recording(mon)
    cases = [[0.1, 0.9], [0.1, 0.5, 0.9], [1.0, 1.7, -0.3], [0.25] * 7 + [0.75] * 3]
    for i, bucket in enumerate(cases):
        mon.update("v1", bucket, [300.0 * i] * len(bucket))
    mon.update("v1", [0.5], [300.0 * (len(cases) + 13)])
    # To a bin's width (0.001); scores beyond [0, 1] count at its ends.
    assert fed == pytest.approx([np.median(np.clip(c, 0, 1)) for c in cases], abs=0.001)


def test_a_backlog_read_at_once_fills_the_buckets_of_its_record_time() -> None:
    # A day of readings arriving in one batch after an outage is a day of buckets, not one.
    t, scores = _plant(1)
    mon = ScoreDriftMonitor(bucket_s=300)
    fed = _recording(mon)
    mon.update("v1", scores, t)
    assert len(fed) == DAY / 300 - 13  # every bucket but the last hour's, still open for late readings
    assert len(mon._open) == 13


def test_a_new_model_version_starts_afresh() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    mon.update("v1", [0.2, 0.3], [0.0, 400.0])
    mon.update("v2", [0.8], [700.0])
    assert list(mon._detectors) == ["v2"] and mon._detectors["v2"].width == 0
    assert list(mon._open) == [2] and int(mon._open[2].counts.sum()) == 1


def test_non_finite_scores_and_times_are_left_out() -> None:
    mon = ScoreDriftMonitor(bucket_s=300)
    assert mon.update("v1", [float("nan"), 0.5, 0.4], [1400.0, float("inf"), 1500.0]) == []
    assert sum(int(b.counts.sum()) for b in mon._open.values()) == 1
    # Fed every score, one NaN made ADWIN's estimate NaN and stopped it for good.
    every = ScoreDriftMonitor(bucket_s=0)
    every.update("v1", [0.1, float("nan")] * 500)
    assert every.update("v1", [0.9] * 3000) and math.isfinite(every._detectors["v1"].estimation)


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


def test_scores_as_far_ahead_as_a_record_may_be_are_fed_but_never_an_hour_ahead() -> None:
    # With drift.bucket_s below records.max_future_s, a gateway two minutes fast was scored but left
    # out of drift; allowed an hour or more ahead, one reading would close every on-time bucket.
    mon = ScoreDriftMonitor(bucket_s=60, clock=lambda: 0.0, future_s=300)
    assert mon.update("v1", [0.5], [120.0]) == [] and mon.future_scores == 0
    mon.update("v1", [0.5], [400.0])
    assert mon.future_scores == 1
    assert ScoreDriftMonitor(bucket_s=300, future_s=7200).future_s == 3300
    assert ScoreDriftMonitor(bucket_s=300, future_s=0).future_s == 300


def test_a_change_is_reported_once_and_not_again_when_the_scores_come_back() -> None:
    # The plant leaves its level for an afternoon (scores up by 0.5 for 6 hours), then comes back:
    # ADWIN flagged the return as a second change, so each such afternoon was reported twice.
    t, scores = _plant(4)
    away = (t >= 2 * DAY + 12 * 3600) & (t < 2 * DAY + 18 * 3600)
    scores[away] += 0.5
    mon = ScoreDriftMonitor(bucket_s=300)
    events = _feed(mon, t, scores)
    assert len(events) == 1 and mon.returns == 1, [t[e.scores_seen - 1] / 3600 for e in events]
    assert 2 * DAY + 12 * 3600 < t[events[0].scores_seen - 1] < 2 * DAY + 18 * 3600  # the move away
    # Once the scores came back, the next move is a change again.
    later, shifted = _plant(3, seed=1)
    events = _feed(mon, later + 4 * DAY, shifted + np.where(later >= DAY, 0.3, 0.0))
    assert len(events) == 1 and DAY < later[events[0].scores_seen - 1 - t.size] < 2 * DAY
