"""The metrics module on an injected registry; the bulk histogram against prometheus-client's own."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.metrics import BulkHistogram, PipelineMetrics


@given(st.lists(st.floats(0, 5, allow_nan=False), max_size=50))
def test_bulk_histogram_exposes_what_a_plain_histogram_would(values: list[float]) -> None:
    buckets = (0.0, 0.5, 1.0, 2.5)
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    BulkHistogram("h", "doc", buckets=buckets, registry=r1).observe_many(np.array(values))
    plain = Histogram("h", "doc", buckets=buckets, registry=r2)
    for v in values:
        plain.observe(v)
    for le in ["0.0", "0.5", "1.0", "2.5", "+Inf"]:
        assert r1.get_sample_value("h_bucket", {"le": le}) == r2.get_sample_value("h_bucket", {"le": le})
    assert r1.get_sample_value("h_count") == r2.get_sample_value("h_count")
    assert np.isclose(r1.get_sample_value("h_sum"), r2.get_sample_value("h_sum"))


def test_per_asset_series_stop_at_the_limit_and_revoked_assets_are_removed() -> None:
    reg = CollectorRegistry()
    m = PipelineMetrics(reg, asset_limit=2)
    for i in range(5):
        m.set_asset(f"a{i}", score=0.1 * i, anomalous=i == 1, state=1)
    text = generate_latest(reg).decode()
    assert (
        text.count("dhag_asset_score{") == 2 and reg.get_sample_value("dhag_asset_series_refused_total") == 3
    )
    assert text.count("dhag_asset_state{") == 2
    assert reg.get_sample_value("dhag_asset_anomalous", {"asset": "a1"}) == 1
    m.set_asset("a0", score=0.9, anomalous=False)  # a quiet-time resolution: no reading, no change
    assert reg.get_sample_value("dhag_asset_state", {"asset": "a0"}) == 1
    m.forget_assets({"a0"})
    assert reg.get_sample_value("dhag_asset_score", {"asset": "a0"}) is None
    assert reg.get_sample_value("dhag_asset_state", {"asset": "a0"}) is None
    m.set_asset("a4", score=0.5, anomalous=False)
    assert reg.get_sample_value("dhag_asset_score", {"asset": "a4"}) == 0.5


def test_an_assets_beyond_training_range_state_follows_its_latest_reading() -> None:
    reg = CollectorRegistry()
    m = PipelineMetrics(reg, asset_limit=5)
    m.set_asset("a0", score=0.9, anomalous=True, outside_range=True)
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "a0"}) == 1
    m.set_asset("a0", score=0.2, anomalous=False)  # a quiet-time resolution: no reading, no change
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "a0"}) == 1
    m.set_asset("a0", score=0.2, anomalous=False, outside_range=False)
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "a0"}) == 0
    m.set_asset("a1", score=0.2, anomalous=False)  # only ever touched without a reading
    m.forget_assets({"a0", "a1"})
    assert reg.get_sample_value("dhag_asset_outside_training_range", {"asset": "a0"}) is None
    assert reg.get_sample_value("dhag_asset_score", {"asset": "a1"}) is None


def test_two_services_in_one_process_do_not_share_metrics() -> None:
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    PipelineMetrics(r1).records_consumed.inc(3)
    PipelineMetrics(r2)
    assert r1.get_sample_value("dhag_records_consumed_total") == 3
    assert r2.get_sample_value("dhag_records_consumed_total") == 0


def test_the_ages_the_stall_alerts_read_are_not_moved_by_a_step_of_the_wall_clock(monkeypatch) -> None:
    # The alert rules read how long ago the daemon last processed and was caught up. As time() minus a
    # wall-clock gauge, a daemon host an hour behind Prometheus's clock (NTP stepped it back, a VM
    # resumed before its clock was synced) was paged as DhagProcessingStalled while it kept pace, and
    # one an hour ahead hid a real stall for that hour.
    import time

    wall, ticks = [1.8e9], [500.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    monkeypatch.setattr(time, "monotonic", lambda: ticks[0])
    reg = CollectorRegistry()
    m = PipelineMetrics(reg)
    assert reg.get_sample_value("dhag_caught_up_age_seconds") == float("inf")  # never caught up yet
    m.mark_processed()
    m.mark_caught_up()
    for step in (-3600.0, 7200.0):
        wall[0] += step + 30.0
        ticks[0] += 30.0
        assert reg.get_sample_value("dhag_last_processed_age_seconds") == 30.0
        assert reg.get_sample_value("dhag_caught_up_age_seconds") == 30.0
        m.mark_processed()
        m.mark_caught_up()
    assert reg.get_sample_value("dhag_last_processed_timestamp_seconds") == wall[0]  # what people read


def test_a_failed_carry_over_is_aged_on_the_monotonic_clock(monkeypatch) -> None:
    # DhagAlertsNotCarriedOver warns for an hour after the failure: time() minus a wall-clock time
    # would make it last an hour longer on a host whose clock is an hour behind Prometheus's.
    import time

    wall, ticks = [1.8e9], [500.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    monkeypatch.setattr(time, "monotonic", lambda: ticks[0])
    reg = CollectorRegistry()
    m = PipelineMetrics(reg)
    assert reg.get_sample_value("dhag_alerts_carry_over_failed_age_seconds") == float("inf")
    assert reg.get_sample_value("dhag_alerts_carry_over_failed_timestamp_seconds") == 0.0
    m.mark_carry_over_failed()
    wall[0] -= 3600.0  # the host's clock stepped back an hour
    ticks[0] += 45.0
    assert reg.get_sample_value("dhag_alerts_carry_over_failed_age_seconds") == 45.0
    assert reg.get_sample_value("dhag_alerts_carry_over_failed_timestamp_seconds") == 1.8e9


def _suspects(reg: CollectorRegistry) -> dict[str, str]:
    text = generate_latest(reg).decode()
    return {
        s.labels["asset"]: s.labels["sensor"]
        for family in text_string_to_metric_families(text)
        if family.name == "dhag_asset_suspect_sensor"
        for s in family.samples
        if s.value == 1
    }


def test_an_open_alerts_first_suspect_is_a_series_until_the_episode_resolves() -> None:
    reg = CollectorRegistry()
    m = PipelineMetrics(reg, asset_limit=2)
    m.set_asset("a0", score=0.9, anomalous=True)
    m.set_suspect("a0", "flow")
    m.set_asset("a1", score=0.9, anomalous=True)
    m.set_suspect("a1", None)  # an alert no single sensor explains: no series
    assert _suspects(reg) == {"a0": "flow"}
    m.set_suspect("a0", "vibration")  # a later episode's suspect replaces it
    assert _suspects(reg) == {"a0": "vibration"}
    m.set_asset("a0", score=0.95, anomalous=True)  # the episode goes on: the suspect stays
    assert _suspects(reg) == {"a0": "vibration"}
    m.set_asset("a0", score=0.1, anomalous=False)  # resolved
    assert _suspects(reg) == {}
    m.set_asset("a0", score=0.9, anomalous=True)
    m.set_suspect("a0", "flow")
    m.forget_assets({"a0"})  # its partition left
    assert _suspects(reg) == {}


def test_an_asset_refused_a_series_gets_no_suspect() -> None:
    reg = CollectorRegistry()
    m = PipelineMetrics(reg, asset_limit=1)
    m.set_asset("a0", score=0.9, anomalous=True)
    assert m.set_asset("a1", score=0.9, anomalous=True) is False
    m.set_suspect("a0", "flow")
    m.set_suspect("a1", "flow")
    assert _suspects(reg) == {"a0": "flow"}
    m.set_suspect("a0", None)  # a new episode without one clears the old one's
    assert _suspects(reg) == {}
