"""Per-asset clock offsets: an asset whose clock is wrong among healthy ones shows in
``dhag_asset_clock_offset_seconds``, and a replay of buffered or retained readings does not."""

from __future__ import annotations

import time
from collections import namedtuple

import numpy as np
import orjson
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Timed = namedtuple("Timed", "topic partition offset key value timestamp timestamp_type")
Bare = namedtuple("Bare", "topic partition offset key value")
LOG_APPEND_TIME, CREATE_TIME = 1, 0
HOUR = 3600.0


def _processor(fitted, *, asset_limit: int = 200, **alerts) -> tuple[BatchProcessor, CollectorRegistry]:
    settings = Settings.model_validate(
        {"alerts": {"open_after": 2, "window": 3, "resolve_after": 3} | alerts}
    )
    reg = CollectorRegistry()
    return BatchProcessor(settings, fitted, "v7", PipelineMetrics(reg, asset_limit=asset_limit)), reg


class Feed:
    """Readings of a fleet written to Kafka at ``written`` (epoch seconds), in offset order."""

    def __init__(self, seed: int = 0, timestamp_type: int = LOG_APPEND_TIME) -> None:
        self.rng = np.random.default_rng(seed)
        self.offset = 0
        self.timestamp_type = timestamp_type

    def record(self, asset: str, ts: float, written: float) -> Timed:
        self.offset += 1
        row = normal(self.rng, 1)[0]
        return Timed(
            "in",
            0,
            self.offset,
            asset.encode(),
            reading(asset, ts, row),
            int(written * 1000),
            self.timestamp_type,
        )


def _offset(reg: CollectorRegistry, asset: str) -> float | None:
    """The exported offset, to the millisecond of a Kafka timestamp."""
    value = reg.get_sample_value("dhag_asset_clock_offset_seconds", {"asset": asset})
    return None if value is None else round(value, 2)


def test_an_asset_an_hour_behind_among_healthy_ones_shows_its_offset(fitted) -> None:
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time()
    # Six assets sending every 10 s for a minute; pump-03's gateway clock runs an hour behind. Each
    # reading reaches Kafka a little after its ts (the gateway's latency).
    batch = []
    for k in range(6):
        t = now - 60 + 10 * k
        for a in range(6):
            asset = f"pump-{a:02d}"
            batch.append(feed.record(asset, t - 0.4 - (HOUR if asset == "pump-03" else 0.0), t))
    out = proc.process(batch, now=0.0)
    assert out.scored == 36 and out.dead_lettered == 0
    assert _offset(reg, "pump-03") == -HOUR - 0.4
    for a in (0, 1, 2, 4, 5):
        assert _offset(reg, f"pump-{a:02d}") == -0.4
    # The job-wide lag histogram says little: five of six readings are under a second old.
    under_1s = reg.get_sample_value("dhag_end_to_end_lag_seconds_bucket", {"le": "1.0"})
    assert under_1s is not None and under_1s < 36


def test_a_clock_ahead_and_readings_without_a_kafka_time(fitted) -> None:
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time()
    # Ahead by four minutes: within records.max_future_s (300 s), so scored, and its offset shows.
    proc.process([feed.record("fan-01", now + 240.0, now)], now=0.0)
    assert _offset(reg, "fan-01") == 240.0
    # A record without a Kafka timestamp (-1) is judged by this host's clock.
    proc.process([feed.record("fan-02", now - HOUR, -0.001)], now=0.0)
    bare = Bare("in", 1, 0, b"fan-03", reading("fan-03", now - HOUR, normal(feed.rng, 1)[0]))
    proc.process([bare], now=0.0)
    for asset in ("fan-02", "fan-03"):
        offset = _offset(reg, asset)
        assert offset is not None and -HOUR - 5.0 < offset <= -HOUR


def test_replays_of_history_among_live_readings_leave_the_offset_at_the_live_readings(fitted) -> None:
    # A historian replays a day of the asset's retained readings while the asset sends live ones: a
    # batch holds both, or replayed ones only. Neither moves the offset while live readings came within
    # the window, where the latest reading's offset would swing between -1 s and -1 day.
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time()
    clock, seen = 0.0, []
    for k in range(12):  # a batch every 5 s for a minute
        written = now + 5 * k
        replay = [feed.record("kiln-1", written - 86400 + 60 * i + 5 * k, written) for i in range(20)]
        live = [feed.record("kiln-1", written - 1.0, written)] if k % 3 == 0 else []
        proc.process(replay[:10] + live + replay[10:], now=clock)
        seen.append(_offset(reg, "kiln-1"))
        clock += 5.0
    assert seen == [-1.0] * 12
    # Live readings stop (only the replay goes on) for two windows: the replay's offset shows.
    for _ in range(30):
        written += 5.0
        proc.process([feed.record("kiln-1", written - 80000.0, written)], now=clock)
        clock += 5.0
    assert _offset(reg, "kiln-1") == -80000.0


def test_a_buffered_replay_after_an_outage_catches_up_to_the_live_offset(fitted) -> None:
    # A gateway cut off for 40 minutes sends its buffer oldest first, 40 readings a second, then goes on
    # live. The offset is large only while the buffer drains (about a minute) and is back to the
    # gateway's latency once it has: DhagAssetClockSkewed needs it to hold steady for 30 minutes.
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time()
    buffered = [now - 2400 + 1.0 * i for i in range(2400)]  # one reading a second, 40 minutes
    seen = []
    for k in range(0, 2400, 200):  # a batch of 200 every 5 s
        written = now + 5 * (k // 200)
        batch = [feed.record("press-2", ts, written) for ts in buffered[k : k + 200]]
        proc.process(batch, now=5.0 * (k // 200))
        seen.append(_offset(reg, "press-2"))
    assert seen[0] is not None and seen[0] < -2000.0
    assert seen == sorted(seen), "the offset shrinks as the buffer drains"
    written += 5.0
    proc.process([feed.record("press-2", written - 0.5, written)], now=60.0)
    assert _offset(reg, "press-2") == -0.5


def test_offsets_stay_within_the_asset_limit_and_go_with_the_asset(fitted) -> None:
    proc, reg = _processor(fitted, asset_limit=1, quiet_s=60.0)
    feed, now = Feed(), time.time()
    proc.process([feed.record("a", now - 1.0, now), feed.record("b", now - HOUR, now)], now=0.0)
    assert _offset(reg, "a") == -1.0
    assert _offset(reg, "b") is None, "beyond metrics.asset_limit: no series"
    # Silent for alerts.quiet_s: the asset's series go, its offset with them; its window too, so that
    # when it comes back (its clock now an hour behind) its old offset is not the largest.
    proc.sweep(now=61.0)
    assert _offset(reg, "a") is None and reg.get_sample_value("dhag_asset_score", {"asset": "a"}) is None
    proc.process([feed.record("a", now + 60.0 - HOUR, now + 60.0)], now=62.0)
    assert _offset(reg, "a") == -HOUR
    # Its partition revoked: the series go.
    proc.drop_partitions([("in", 0)])
    assert _offset(reg, "a") is None


def test_producer_stamped_times_are_the_reference_too(fitted) -> None:
    # CreateTime records: the producer's clock is the reference (a gateway that stamps both ts and
    # the record from one wrong clock hides its offset: the runbook says to use LogAppendTime).
    proc, reg = _processor(fitted)
    feed, now = Feed(timestamp_type=CREATE_TIME), time.time()
    proc.process([feed.record("mill-1", now - HOUR, now), feed.record("mill-2", now - 2.0, now)], now=0.0)
    assert (_offset(reg, "mill-1"), _offset(reg, "mill-2")) == (-HOUR, -2.0)


def test_an_asset_hours_ahead_shows_its_offset_though_its_records_are_dead_lettered(fitted) -> None:
    # pump-07's gateway runs two hours fast: every reading lies beyond records.max_future_s and is
    # dead-lettered, yet its offset shows (DhagAssetClockSkewed names it), while it has no score.
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time()
    for k in range(3):
        t = now + 5 * k
        batch = [feed.record("pump-07", t + 2 * HOUR - 0.4, t), feed.record("pump-08", t - 0.4, t)]
        out = proc.process(batch, now=5.0 * k)
        assert (out.scored, out.dead_lettered) == (1, 1)
    assert _offset(reg, "pump-07") == 2 * HOUR - 0.4
    assert _offset(reg, "pump-08") == -0.4
    assert reg.get_sample_value("dhag_asset_score", {"asset": "pump-07"}) is None
    # A record that is malformed besides stays just a dead letter: an asset id the pattern refuses, a
    # ts that does not parse, an asset id that is not a string.
    t = now + 20.0
    docs = [("bad id!", t + 2 * HOUR), ("oven-2", "soon"), (7, t + 2 * HOUR)]
    bad = [
        Timed("in", 0, 90 + k, b"x", orjson.dumps({"asset_id": a, "ts": ts, "values": {}}), int(t * 1000), 1)
        for k, (a, ts) in enumerate(docs)
    ]
    assert proc.process(bad, now=20.0).dead_lettered == 3
    sample = [s for m in reg.collect() for s in m.samples if s.name == "dhag_asset_clock_offset_seconds"]
    assert {s.labels["asset"] for s in sample} == {"pump-07", "pump-08"}


def test_an_asset_only_dead_lettered_ahead_counts_in_the_asset_limit_and_goes_when_silent(fitted) -> None:
    proc, reg = _processor(fitted, asset_limit=2, quiet_s=60.0)
    feed, now = Feed(), time.time()
    refused = lambda: reg.get_sample_value("dhag_asset_series_refused_total")  # noqa: E731
    proc.process([feed.record("a", now - 1.0, now), feed.record("fast", now + HOUR, now)], now=0.0)
    assert (_offset(reg, "a"), _offset(reg, "fast")) == (-1.0, HOUR)
    # The limit is full with an asset of its clock offset only: a third asset gets no series.
    proc.process([feed.record("b", now - 1.0, now), feed.record("faster", now + 2 * HOUR, now)], now=1.0)
    assert _offset(reg, "b") is None and reg.get_sample_value("dhag_asset_score", {"asset": "b"}) is None
    assert _offset(reg, "faster") is None
    assert refused() == 2.0
    # Its clock fixed, the asset is scored and keeps its place; with a reading scored in its window,
    # its dead letters no longer give its offset.
    proc.process([feed.record("fast", now + 2.0, now + 2.0)], now=2.0)
    assert reg.get_sample_value("dhag_asset_score", {"asset": "fast"}) is not None
    assert _offset(reg, "fast") == 0.0
    # Silent for alerts.quiet_s, an asset seen only ahead loses its series like a scored one.
    proc.process([feed.record("slow", now + HOUR, now + 3.0)], now=3.0)
    assert _offset(reg, "slow") is None, "the limit is full"
    proc.sweep(now=62.5)
    assert _offset(reg, "fast") is None and _offset(reg, "a") is None
    proc.process([feed.record("slow", now + 70.0 + HOUR, now + 70.0)], now=70.0)
    assert _offset(reg, "slow") == HOUR
    proc.sweep(now=129.0)
    assert _offset(reg, "slow") == HOUR, "not silent for alerts.quiet_s yet"
    proc.sweep(now=130.0)
    assert _offset(reg, "slow") is None
    # Its partition revoked: the series goes too.
    proc.process([feed.record("slow", now + 140.0 + HOUR, now + 140.0)], now=140.0)
    assert _offset(reg, "slow") == HOUR
    proc.drop_partitions([("in", 0)])
    assert _offset(reg, "slow") is None


Y2100 = 4102444800.0  # 2100-01-01T00:00:00Z


def test_a_far_future_reading_among_scored_ones_does_not_move_the_offset(fitted) -> None:
    # kiln-4's gateway sends good readings every 5 s, 1 s behind, and once a minute a corrupt one dated
    # 2100 (dead-lettered as ahead); press-9's clock is three hours behind with the same corrupt
    # readings. The corrupt readings fall in a window's first batch or in its middle, among scored ones
    # or alone in a batch that opens a window: the offsets stay at the scored readings', steady for
    # DhagAssetClockSkewed and the dashboard.
    proc, reg = _processor(fitted)
    feed, now = Feed(), time.time() - 36 * 60.0
    seen = []
    for k in range(36 * 12):  # 36 minutes, a batch every 5 s
        t, clock = now + 5 * k, 5.0 * k
        batch = [feed.record("kiln-4", t - 1.0, t), feed.record("press-9", t - 3 * HOUR, t)]
        if k % 12 == (k // 12) % 3:
            spikes = [feed.record("kiln-4", Y2100, t), feed.record("press-9", Y2100, t)]
            batch = spikes + batch if k % 2 else batch + spikes
        out = proc.process(batch, now=clock)
        assert out.scored == 2
        if k % 12 == 11:  # alone in its batch, the first of the next window
            proc.process([feed.record("kiln-4", Y2100, t + 5.0)], now=clock + 5.0)
            seen.append((_offset(reg, "kiln-4"), _offset(reg, "press-9")))
        seen.append((_offset(reg, "kiln-4"), _offset(reg, "press-9")))
    assert set(seen) == {(-1.0, -3 * HOUR)}
    assert reg.get_sample_value("dhag_dlq_records_total", {"reason": "bad_timestamp"}) == 36 * 3
