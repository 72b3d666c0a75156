"""An alert episode's time span in the label store when its readings are not dated in order: a reading
whose device clock was reset (dated 1970) or that a gateway back-filled can be the episode's last one,
and its ``ts`` is the resolved event's ``ts``. The readings the episode covered must still stay out of
the normal sample: they are the fault, not normal operation."""

from __future__ import annotations

import orjson

from pipeline.alertevents import alert_event
from pipeline.alerts import AlertTracker
from pipeline.labelstore import LabelStore
from pipeline.retrain.alertfeed import alert_event_of

T = 1.8e9


def _stored(store: LabelStore, transition) -> None:  # noqa: ANN001
    event = alert_event(transition, threshold=0.5, model_version="v1", top_sensors=[], values={"x": 9.0})
    store.add_alert(alert_event_of(orjson.dumps(event)))  # as the retrainer takes it in


def test_an_episode_whose_last_reading_is_dated_1970_keeps_its_fault_out_of_the_normal_sample() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
    store = LabelStore(":memory:")
    fault = [T + 60.0 * k for k in range(60)]  # an hour of readings over the threshold
    opened = tracker.observe("p1", True, 0.9, fault[0], now=0.0, seed="in/0/0", offset=0)
    for k, ts in enumerate(fault[1:], start=1):
        assert tracker.observe("p1", True, 0.9, ts, now=k, seed=f"in/0/{k}", offset=k) is None
    # The device rebooted and sent one reading before its clock was synced: it scores normal.
    resolved = tracker.observe("p1", False, 0.1, 0.0, now=61, seed="in/0/61", offset=61)
    assert opened is not None and resolved is not None and resolved.ts == 0.0
    _stored(store, opened)
    _stored(store, resolved)
    later = [T + 3600.0 + 600.0 * k for k in range(1, 4)]  # normal again, well after the episode
    store.add_readings([("p1", ts, {"x": 9.0}) for ts in fault + later], keep=1000)
    sample = {ts for _, ts, _ in store.normal_sample(margin_s=300.0)}
    # Before: the episode was stored as 1970 to T, and the whole hour of faulty readings trained as normal.
    assert not sample & set(fault)
    assert sample == set(later)


def test_an_episode_resolved_at_a_time_before_it_opened_still_covers_its_opening_reading() -> None:
    # An event without latest_ts (from an earlier daemon version, or another producer).
    store = LabelStore(":memory:")
    store.add_readings([("p1", T + 60.0 * k, {"x": 1.0}) for k in range(-10, 11)], keep=1000)
    common = {"alert_id": "a1", "asset_id": "p1", "opened_at": T, "score": 0.9}
    store.add_alert(common | {"state": "open", "ts": T})
    store.add_alert(common | {"state": "resolved", "ts": T - 7200.0})
    sample = {ts for _, ts, _ in store.normal_sample(margin_s=120.0)}
    assert not sample & {T - 120.0, T - 60.0, T, T + 60.0, T + 120.0}
    assert {T - 180.0, T + 180.0} <= sample
