"""The processor and time: each score reaches drift with its own record time, once, and a reading's
``ts`` is judged by the Kafka record time when this host's clock is behind."""

from __future__ import annotations

import time
from collections import namedtuple

import numpy as np
import orjson
from pipeline_kafka import reading
from plant_data import FEATURES, normal
from test_pipeline_processing import Rec, _processor


def test_drift_is_fed_each_scored_reading_with_its_own_record_time_once(fitted) -> None:
    # The monitor buckets scores by record time: a score paired with another record's time, or a
    # retried batch fed twice, would put readings in the wrong bucket, or in one twice.
    proc, _ = _processor(fitted)
    assert proc.drift is not None
    rows = normal(np.random.default_rng(2), 8)
    recs = [Rec("in", 0, i, b"d", reading("d", 1000.0 + 60 * i, r)) for i, r in enumerate(rows)]
    huge = orjson.loads(recs[2].value)
    huge["values"][FEATURES[0]] = 1e300  # parsed, then refused by the model: not scored
    recs[2] = Rec("in", 0, 2, b"d", orjson.dumps(huge))
    fed: list[tuple[list[float], list[float]]] = []
    update = proc.drift.update

    def spy(version, scores, times, now=None):
        fed.append((list(scores), list(times)))
        return update(version, scores, times, now)

    proc.drift.update = spy  # type: ignore[method-assign]
    point = proc.savepoint()
    proc.process(recs, now=0.0)
    proc.rollback(point)  # the broker did not take the output: the batch comes again
    point = proc.savepoint()
    out = proc.process(recs, now=1.0)
    proc.release(point)
    assert len(fed) == 1
    scores, times = fed[0]
    assert times == [1000.0 + 60 * i for i in range(8) if i != 2]
    assert len(scores) == out.scored == 7
    assert sum(int(b.counts.sum()) for b in proc.drift._open.values()) == 7


def test_the_daemon_judges_ts_by_the_kafka_record_time_when_its_own_clock_is_behind(fitted) -> None:
    # As if this host's clock were an hour behind: the readings and their Kafka times are an hour ahead.
    proc, reg = _processor(fitted)
    ahead = time.time() + 3600.0
    Timed = namedtuple("Timed", "topic partition offset key value timestamp timestamp_type")
    rows = normal(np.random.default_rng(3), 3)
    # Stamped by the broker (LogAppendTime).
    recs = [
        Timed("in", 0, i, b"t", reading("t", ahead + i, r), int((ahead + i) * 1000), 1)
        for i, r in enumerate(rows)
    ]
    out = proc.process(recs, now=0.0)
    assert (out.scored, out.dead_lettered) == (3, 0)
    # ... and drift detection gets their scores too, judged by the same time.
    assert proc.drift is not None and proc.drift.future_scores == 0
    assert sum(int(b.counts.sum()) for b in proc.drift._open.values()) == 3
    # Stamped by producers (CreateTime): on three partitions, trusted; on one, not.
    created = [r._replace(partition=i, timestamp_type=0) for i, r in enumerate(recs)]
    assert proc.process(created, now=0.0).scored == 3
    assert proc.process(created[:1], now=0.0).dead_lettered == 1
    # Without Kafka times, the host's clock alone: every reading is dated too far ahead.
    bare = [Rec(*r[:5]) for r in recs]
    assert proc.process(bare, now=0.0).dead_lettered == 3
    # A batch that raises is processed again in halves, each judged by the batch's Kafka time (one or
    # two CreateTime records alone would be under three partitions: no time to trust).
    from pipeline.poison import process_guarded

    process, calls = proc.process, []

    def fails_once(records, **kwargs):
        calls.append(len(records))
        if len(calls) == 1:
            raise RuntimeError("one bad record somewhere")
        return process(records, **kwargs)

    proc.process = fails_once  # type: ignore[method-assign]
    out = process_guarded(proc, created, now=0.0)
    assert calls == [3, 1, 2] and (out.scored, out.dead_lettered) == (3, 0)


def test_a_reading_dated_ahead_counts_no_negative_lag(fitted) -> None:
    # Within records.max_future_s, a reading dated ahead of this host's clock is scored; its lag is
    # clamped at 0 so that the histogram's sum, a counter, never goes down.
    proc, reg = _processor(fitted)
    rows = normal(np.random.default_rng(4), 2)
    now = time.time()
    proc.process([Rec("in", 0, 0, b"a", reading("a", now - 30.0, rows[0]))], now=0.0)
    before = reg.get_sample_value("dhag_end_to_end_lag_seconds_sum")
    assert before is not None and before >= 30.0
    out = proc.process([Rec("in", 0, 1, b"a", reading("a", now + 120.0, rows[1]))], now=1.0)
    assert out.scored == 1
    assert reg.get_sample_value("dhag_end_to_end_lag_seconds_count") == 2
    assert before <= reg.get_sample_value("dhag_end_to_end_lag_seconds_sum") < before + 5.0
    assert reg.get_sample_value("dhag_end_to_end_lag_seconds_bucket", {"le": "0.01"}) == 1.0
