"""A drift bucket stays open for an hour of newer record time: a tiny ``drift.bucket_s`` would keep
thousands of them (8 KB each) open, so it is refused, naming the key and the limit."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_settings
from pipeline.drift import LATE_S, MAX_BUCKETS, ScoreDriftMonitor
from pipeline.errors import ConfigError


@pytest.mark.parametrize("written", ["0.001", "1", "9.9"])
def test_a_bucket_too_short_is_refused_naming_the_key_and_the_limit(written: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_DRIFT__BUCKET_S": written})
    said = str(info.value)
    assert said.startswith(f"config error: drift.bucket_s: {float(written)}: ")
    assert f"{MAX_BUCKETS} buckets" in said and "at least 10 s" in said and "0 (every score" in said


@pytest.mark.parametrize("written", ["0", "10", "300", "86400"])
def test_every_score_and_buckets_of_ten_seconds_or_more_are_taken(written: str) -> None:
    assert load_settings(None, {"DHAG_PIPELINE_DRIFT__BUCKET_S": written}).drift.bucket_s == float(written)


def test_the_monitor_refuses_it_too_and_keeps_at_most_the_limit_open() -> None:
    with pytest.raises(ValueError, match="bucket_s"):
        ScoreDriftMonitor(bucket_s=0.01)
    shortest = ScoreDriftMonitor(bucket_s=LATE_S / MAX_BUCKETS)
    t = np.arange(0.0, 2 * LATE_S, 1.0)
    shortest.update("v1", np.full(t.size, 0.3), t)
    assert len(shortest._open) <= MAX_BUCKETS + 1
