"""An alert episode's time span in the label store when its readings are not dated in order: a reading
whose device clock was reset (dated 1970) or that a gateway back-filled can be the episode's last one,
and its ``ts`` is the resolved event's ``ts``. The readings the episode covered must still stay out of
the normal sample: they are the fault, not normal operation."""

from __future__ import annotations

import sqlite3

import orjson

from pipeline.alertevents import alert_event
from pipeline.alerts import AlertTracker
from pipeline.carryover import open_episodes
from pipeline.labelschema import SCHEMA
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


def test_a_faulty_reading_dated_before_the_opening_stays_out_of_the_normal_sample() -> None:
    # Out-of-order delivery: the episode opens at T, then a reading of the same fault dated an hour
    # earlier (a gateway back-filling what it buffered) comes in.
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
    store = LabelStore(":memory:")
    opened = tracker.observe("p1", True, 0.9, T, now=0.0, seed="in/0/0", offset=0)
    assert tracker.observe("p1", True, 0.9, T - 3600.0, now=1.0, seed="in/0/1", offset=1) is None
    resolved = tracker.observe("p1", False, 0.1, T + 60.0, now=2.0, seed="in/0/2", offset=2)
    assert opened is not None and resolved is not None and resolved.earliest_ts == T - 3600.0
    _stored(store, opened)
    _stored(store, resolved)
    before, later = T - 7200.0, T + 3600.0
    store.add_readings([("p1", ts, {"x": 9.0}) for ts in (before, T - 3600.0, T, later)], keep=1000)
    sample = {ts for _, ts, _ in store.normal_sample(margin_s=300.0)}
    assert sample == {before, later}
    assert store.alert(opened.alert_id)["started_at"] == T - 3600.0


def test_a_normal_reading_dated_before_the_opening_does_not_stretch_the_episode_back() -> None:
    # One reading of a device whose clock was reset scores normal: it is no part of the fault.
    tracker = AlertTracker(open_after=1, window=1, resolve_after=2, quiet_s=600)
    tracker.observe("p1", True, 0.9, T, now=0.0, seed="in/0/0", offset=0)
    assert tracker.observe("p1", False, 0.1, 0.0, now=1.0, seed="in/0/1", offset=1) is None
    resolved = tracker.observe("p1", False, 0.1, T + 60.0, now=2.0, seed="in/0/2", offset=2)
    assert resolved is not None and resolved.earliest_ts == T


def test_a_faulty_reading_dated_1970_does_not_stretch_the_episode_back_to_it() -> None:
    # A device whose clock was reset sends a reading over the threshold dated 1970: stretching the
    # episode's start back to it kept every reading of the asset since then out of the normal sample,
    # and forgetting the episode deleted them. Only late readings within alerts.backfill_s count.
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600, backfill_s=3600.0)
    store = LabelStore(":memory:")
    opened = tracker.observe("p1", True, 0.9, T, now=0.0, seed="in/0/0", offset=0)
    assert tracker.observe("p1", True, 0.9, 0.0, now=1.0, seed="in/0/1", offset=1) is None
    assert tracker.observe("p1", True, 0.9, T - 1800.0, now=2.0, seed="in/0/2", offset=2) is None
    resolved = tracker.observe("p1", False, 0.1, T + 60.0, now=3.0, seed="in/0/3", offset=3)
    assert opened is not None and resolved is not None and resolved.earliest_ts == T - 1800.0
    _stored(store, opened)
    _stored(store, resolved)
    weeks_before = [T - 86400.0 * k for k in range(1, 15)]
    store.add_readings([("p1", ts, {"x": 9.0}) for ts in [*weeks_before, T - 1800.0, T]], keep=1000)
    assert {ts for _, ts, _ in store.normal_sample(margin_s=300.0)} == set(weeks_before)
    assert store.prune_alerts(seen_before=float("inf"), margin_s=300.0) == 0  # the asset's newest stays


def test_an_event_without_earliest_ts_starts_its_window_at_the_opening() -> None:
    # Events of an earlier daemon version stay in the topic and still read.
    store = LabelStore(":memory:")
    common = {"alert_id": "a1", "asset_id": "p1", "opened_at": T, "score": 0.9, "values": {}}
    store.add_alert(alert_event_of(orjson.dumps(common | {"state": "open", "ts": T})))
    store.add_alert(alert_event_of(orjson.dumps(common | {"state": "resolved", "ts": T + 60.0})))
    assert store.alert("a1")["started_at"] == T
    store.add_readings([("p1", ts, {"x": 1.0}) for ts in (T - 600.0, T - 60.0, T + 600.0)], keep=1000)
    assert {ts for _, ts, _ in store.normal_sample(margin_s=120.0)} == {T - 600.0, T + 600.0}


def test_a_store_written_before_episodes_had_a_start_opens_and_reads_on(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "labels.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA.replace("    started_at REAL,\n", ""))
    old.execute(
        "INSERT INTO alerts (alert_id, asset_id, opened_at, resolved_at, values_json, seen_at)"
        " VALUES ('a0', 'p1', ?, ?, '{}', 0)",
        (T, T + 60.0),
    )
    old.commit()
    old.close()
    store = LabelStore(path)
    assert store.alert("a0")["started_at"] == T
    store.add_alert(
        {
            "alert_id": "a1",
            "asset_id": "p1",
            "state": "resolved",
            "opened_at": T + 900.0,
            "ts": T + 960.0,
            "earliest_ts": T + 600.0,
            "values": {},
        }
    )
    store.add_readings([("p1", ts, {"x": 1.0}) for ts in (T, T + 300.0, T + 700.0, T + 2000.0)], keep=1000)
    assert {ts for _, ts, _ in store.normal_sample(margin_s=10.0)} == {T + 300.0, T + 2000.0}


def test_a_carried_over_episode_keeps_its_start_and_widens_it_after_a_restart() -> None:
    first = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
    opened = first.observe("p1", True, 0.9, T, now=0.0, seed="in/0/0", offset=0)
    assert opened is not None
    said = alert_event(opened, threshold=0.5, model_version="v1", top_sensors=[], values={"x": 9.0})
    # The daemon restarts; its successor reads the open event back and carries the episode on.
    for event, start in ((said, T), (said | {"earliest_ts": T - 60.0}, T - 60.0)):
        (carried,) = open_episodes([orjson.loads(orjson.dumps(event))], input_topic="in")[0]
        second = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
        assert second.adopt(carried, now=0.0)
        point = second.savepoint()
        second.observe("p1", True, 0.9, T - 3600.0, now=1.0, seed="in/0/1", offset=1)
        second.rollback(point)  # a batch not delivered: undone, the start with it
        resolved = second.observe("p1", False, 0.1, T + 60.0, now=2.0, seed="in/0/2", offset=2)
        assert resolved is not None and resolved.earliest_ts == start
        second = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=600)
        second.adopt(carried, now=0.0)
        second.observe("p1", True, 0.9, T - 3600.0, now=1.0, seed="in/0/1", offset=1)
        resolved = second.observe("p1", False, 0.1, T + 60.0, now=2.0, seed="in/0/2", offset=2)
        assert resolved is not None and resolved.earliest_ts == T - 3600.0
        event = alert_event(resolved, threshold=0.5, model_version="v1", top_sensors=[], values={})
        assert orjson.loads(orjson.dumps(event))["earliest_ts"] == T - 3600.0
