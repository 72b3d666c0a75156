"""A reading dated long before its Kafka record time (a device whose clock was reset to 1970) is scored,
but counted as misdated and kept out of the end-to-end lag: its "lag" is the clock's error, not the
pipeline's delay."""

from __future__ import annotations

import math
import time
from collections import namedtuple

import numpy as np
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value timestamp")


def test_a_reading_dated_1970_is_scored_counted_as_misdated_and_kept_out_of_the_lag(fitted) -> None:
    # Before: it was scored with a lag of 56 years, which made the lag histogram's sum (and any mean
    # lag drawn from it) say the pipeline was decades behind.
    reg = CollectorRegistry()
    proc = BatchProcessor(Settings(), fitted, "v1", PipelineMetrics(reg))
    now = time.time()
    rows = normal(np.random.default_rng(3), 4)
    recs = [
        Rec("in", 0, 0, b"a", reading("a", now - 2.0, rows[0]), int(now * 1000)),
        Rec("in", 0, 1, b"b", reading("b", 5.0, rows[1]), int(now * 1000)),  # clock reset to 1970
        Rec("in", 0, 2, b"c", reading("c", 5.0, rows[2]), -1),  # and no Kafka time: this host's clock
        # A backlog read late: its Kafka time is as old as its ts, so its lag is real.
        Rec("in", 0, 3, b"d", reading("d", now - 3 * 86400.0, rows[3]), int((now - 3 * 86400.0) * 1000)),
    ]
    out = proc.process(recs, now=0.0)
    assert out.scored == 4 and out.dead_lettered == 0
    assert reg.get_sample_value("dhag_readings_misdated_total") == 2
    assert reg.get_sample_value("dhag_end_to_end_lag_seconds_count") == 2
    assert 3 * 86400.0 < reg.get_sample_value("dhag_end_to_end_lag_seconds_sum") < 3 * 86400.0 + 60.0
    # records.max_behind_s: null leaves every reading in the lag, as it was.
    reg = CollectorRegistry()
    settings = Settings.model_validate({"records": {"max_behind_s": None}})
    BatchProcessor(settings, fitted, "v1", PipelineMetrics(reg)).process(recs, now=0.0)
    assert reg.get_sample_value("dhag_readings_misdated_total") == 0
    assert reg.get_sample_value("dhag_end_to_end_lag_seconds_count") == 4


def test_the_daemon_exports_its_records_max_behind_s_which_the_rules_judge_misdated_by(fitted) -> None:
    # The rules mark an asset misdated (its alert holds back DhagReadingsMisdated) by the daemon's own
    # setting: before, they assumed the default, a week, whatever the daemon counted.
    for configured, exported in ((172_800.0, 172_800.0), (604_800.0, 604_800.0), (None, math.inf)):
        reg = CollectorRegistry()
        metrics = PipelineMetrics(reg)
        # Until the daemon has its processor it counts no reading as misdated.
        assert reg.get_sample_value("dhag_records_max_behind_seconds") == math.inf
        settings = Settings.model_validate({"records": {"max_behind_s": configured}})
        BatchProcessor(settings, fitted, "v1", metrics)
        assert reg.get_sample_value("dhag_records_max_behind_seconds") == exported
