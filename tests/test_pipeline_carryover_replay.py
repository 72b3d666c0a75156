"""Records met again after a crash between delivery and commit, whose alert episodes the alerts topic
already holds resolved: the next owner of the partition neither opens nor resolves them again."""

from __future__ import annotations

import pytest
from test_pipeline_carryover import TP, _alerts, _daemon, _event, _hand, _readings

from pipeline.alertevents import alert_event
from pipeline.alerts import AlertTracker
from pipeline.carryover import EpisodeFold


def _fold(events: list[dict], partitions: list[int] | None = None) -> EpisodeFold:
    fold = EpisodeFold("in", partitions)
    for event in events:
        fold.add(event)
    return fold


def _episode(alert_id: str, asset: str, source: str, last_source: str) -> list[dict]:
    """An episode's open and resolved events."""
    opened = _event(alert_id, asset, source=source)
    return [opened, _event(alert_id, asset, "resolved", source=source, last_source=last_source)]


def test_a_resolved_event_names_the_last_record_its_episode_accounted_for() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=2, quiet_s=60)
    opened = tracker.observe("p1", True, 0.9, 1.0, now=0, seed="in/0/7", offset=7)
    assert opened is not None and opened.last_source is None
    assert tracker.observe("p1", False, 0.1, 2.0, now=1, seed="in/0/9", offset=9) is None
    resolved = tracker.observe("p1", False, 0.1, 3.0, now=2, seed="in/0/12", offset=12)
    assert resolved is not None and (resolved.source, resolved.last_source) == ("in/0/7", "in/0/12")
    event = alert_event(resolved, threshold=0.5, model_version="v1", top_sensors=[], values={})
    assert event["last_source"] == "in/0/12"
    assert "last_source" not in alert_event(
        opened, threshold=0.5, model_version="v1", top_sensors=[], values={}
    )
    # Resolved by quiet time: the asset's last record before it went quiet.
    tracker.observe("p1", True, 0.9, 4.0, now=3, seed="in/0/20", offset=20)
    tracker.observe("p1", False, 0.1, 5.0, now=4, seed="in/0/21", offset=21)
    (quiet,) = tracker.sweep(now=100)
    assert (quiet.source, quiet.last_source, quiet.resolved_by) == ("in/0/20", "in/0/21", "silence")


def test_the_fold_keeps_each_assets_last_resolved_record_of_its_partitions() -> None:
    events = [
        *_episode("a1", "p1", "in/0/5", "in/0/9"),
        *_episode("a2", "p1", "in/0/20", "in/0/31"),
        _event("a1", "p1", "resolved", source="in/0/5", last_source="in/0/9"),  # read again: no step back
        *_episode("b1", "p2", "in/1/3", "in/1/4"),
        _event("b2", "p2", source="in/1/8"),  # p2's newer episode is open: carried on instead
        _event("c1", "p3", "resolved", source="in/2/3", last_source="in/0/4"),  # not its partition
        _event("d1", "p4", "resolved", source="in/2/3", last_source="other/2/4"),
        _event("e1", "p5", "resolved", source="in/2/3", last_source="in/2/x"),
        _event("f1", "p6", "resolved", source="in/2/3"),  # written before resolved events named it
    ]
    fold = _fold(events)
    assert fold.replayed() == {0: {"p1": (31, 20.0)}}
    assert [t.alert_id for t in fold.result()[1]] == ["b2"]
    assert _fold(events, [1, 2]).replayed() == {}


def test_the_fold_keeps_an_assets_resolved_records_per_partition() -> None:
    # An asset re-keyed to another partition: the records of its newer episode there were hidden
    # by the higher offsets of its older one on the first, and were raised a second time.
    events = [*_episode("a1", "X", "in/0/5000", "in/0/5010"), *_episode("a2", "X", "in/1/40", "in/1/57")]
    assert _fold(events).replayed() == {0: {"X": (5010, 20.0)}, 1: {"X": (57, 20.0)}}


def test_records_of_a_resolved_episode_met_again_leave_the_state_as_it_is() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    assert tracker.replayed("p1", 30, ts=30.0, now=0)
    for offset in (24, 25, 30):  # the episode's records, replayed: it opened and resolved already
        over = offset == 24
        assert tracker.observe("p1", over, 0.5, offset, now=1, seed=f"in/0/{offset}", offset=offset) is None
    assert tracker.observe("p1", True, 0.9, 31.0, now=2, seed="in/0/31", offset=31).kind == "open"
    assert not tracker.replayed("p1", 40, ts=40.0, now=3)  # an asset with state here keeps it
    assert tracker.is_open("p1")


def test_records_at_old_offsets_but_later_times_are_new_and_raise_their_fault() -> None:
    # An input topic recreated (or a cluster moved): its offsets start over, and its new records at
    # offsets below an old episode's last one were skipped as met again: a real fault went unraised.
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    tracker.replayed("p1", 500, ts=1_000.0, now=0)
    assert tracker.observe("p1", True, 0.9, 5_000.0, now=1, seed="in/0/0", offset=0).kind == "open"
    adopted = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    adopted.adopt(_fold([_event("a1", "p1", source="in/0/500")]).result()[0][0], now=0)
    resolved = adopted.observe("p1", False, 0.1, 5_000.0, now=1, seed="in/0/0", offset=0)
    assert resolved is not None and resolved.alert_id == "a1"  # the new topic's normal record counts


@pytest.mark.parametrize("resolved_by", ["normal_scores", "silence"])
def test_a_fault_opened_and_resolved_after_the_last_commit_is_not_raised_again(
    fitted, monkeypatch, resolved_by
) -> None:
    # A crash between delivery and commit: the next owner processes again records whose episode the
    # alerts topic holds opened and resolved. Before, it started with no state from before the
    # committed offset, so the fault opened at another record (under another alert_id) and resolved
    # again: a second alert for one fault.
    fault = _readings(10, fault=False) + _readings(6, fault=True, start=10)
    after = _readings(6, fault=False, start=16) if resolved_by == "normal_scores" else []
    records = fault + after
    first, delivered, _ = _daemon(fitted, records, quiet_s=60)
    first._handle(records)
    if resolved_by == "silence":  # the asset went silent in the fault, its partition read through
        first.read_through.looked({TP: (len(records), 0)}, now=1e12)
        delivered.deliver(first.processor.sweep(now=1e12))
    said = _alerts(delivered)
    assert [(e["state"], e.get("resolved_by", resolved_by)) for e in said] == [
        ("open", resolved_by),
        ("resolved", resolved_by),
    ]
    # resolve_after 3: the third normal record; or the last of the fault, before the asset went quiet
    assert said[1]["last_source"] == {"normal_scores": "in/0/18", "silence": "in/0/15"}[resolved_by]
    monkeypatch.setattr(
        "pipeline.rebalance.read_alert_events", lambda *a, on_event, **k: _hand(said, on_event)
    )
    second, again, _ = _daemon(fitted, records, quiet_s=60)
    second._on_assigned({TP})
    second._apply_rebalances()
    second._handle(records[11:])  # committed after the fault's first record
    assert _alerts(again) == []
    later = _readings(6, fault=True, start=len(records))  # a new fault is raised as ever
    second._handle(later)
    assert [e["state"] for e in _alerts(again)] == ["open"]


def test_records_met_again_out_of_time_order_are_still_met_again() -> None:
    # Gateways that store and forward, a clock stepped back: an episode's records are not in time
    # order. Its resolved event names the latest time among them (latest_ts), and a record that still
    # looks new leaves the replay window open for the records after it.
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    assert tracker.observe("p1", True, 0.9, 100.0, now=0, seed="in/0/10", offset=10).kind == "open"
    assert tracker.observe("p1", True, 0.9, 500.0, now=1, seed="in/0/11", offset=11) is None
    resolved = tracker.observe("p1", False, 0.1, 200.0, now=2, seed="in/0/12", offset=12)
    assert resolved is not None and (resolved.ts, resolved.latest_ts) == (200.0, 500.0)
    event = alert_event(resolved, threshold=0.5, model_version="v1", top_sensors=[], values={})
    fold = _fold([_event(resolved.alert_id, "p1", source="in/0/10"), event])
    assert fold.replayed() == {0: {"p1": (12, 500.0)}}
    again = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    again.replayed("p1", 12, ts=500.0, now=0)
    assert [
        again.observe("p1", True, 0.9, t, now=1, seed=f"in/0/{o}", offset=o)
        for o, t in ((10, 100.0), (11, 500.0), (12, 200.0))
    ] == [None] * 3
    window = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    window.replayed("p1", 12, ts=300.0, now=0)  # as if the episode's latest time were unknown
    window.observe("p1", False, 0.1, 500.0, now=1, seed="in/0/11", offset=11)  # looks new
    assert window.observe("p1", True, 0.9, 200.0, now=2, seed="in/0/12", offset=12) is None  # still met again


def test_after_an_input_topic_was_recreated_its_own_episodes_count() -> None:
    # The old topic's episode at a higher offset but an earlier time hid the new topic's, whose
    # records met again were then raised a second time.
    old = _episode("a1", "X", "in/0/5000", "in/0/5010")
    new = _episode("a2", "X", "in/0/40", "in/0/57")
    events = [
        old[0] | {"ts": 1_000.0},
        old[1] | {"ts": 1_010.0},
        new[0] | {"ts": 5_000.0},
        new[1] | {"ts": 5_010.0},
    ]
    assert _fold(events).replayed() == {0: {"X": (5_010, 5_010.0)}}  # the new topic's time bounds it
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    tracker.replayed("X", 5_010, ts=5_010.0, now=0)
    assert tracker.observe("X", True, 0.9, 5_000.0, now=1, seed="in/0/40", offset=40) is None  # met again
    assert tracker.observe("X", True, 0.9, 5_011.0, now=1, seed="in/0/58", offset=58).kind == "open"


def test_a_resolved_fault_dated_seconds_before_the_one_before_it_is_not_raised_again() -> None:
    # Readings a few seconds out of order across two episodes (a gateway's jitter): the later episode's
    # readings are dated before the earlier one's latest. The fold took the episode with the later
    # record time as the asset's last, so after a crash between delivery and commit the later
    # episode's records, met again, were taken as new and its fault raised a second time; and the
    # earlier episode's reading dated after all of the later one's would have raised that one again.
    first = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    readings = [(7, True, 100.0), (8, True, 106.0), (9, False, 101.0), (10, True, 102.0), (11, False, 103.0)]
    said = []
    for offset, over, ts in readings:
        transition = first.observe(
            "p1", over, 0.9 if over else 0.1, ts, now=0, seed=f"in/0/{offset}", offset=offset
        )
        if transition is not None:
            said.append(alert_event(transition, threshold=0.5, model_version="v1", top_sensors=[], values={}))
    assert [(e["state"], e["source"]) for e in said] == [
        ("open", "in/0/7"),
        ("resolved", "in/0/7"),
        ("open", "in/0/10"),
        ("resolved", "in/0/10"),
    ]
    fold = _fold(said)
    again = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    for asset, (offset, ts) in fold.replayed()[0].items():
        again.replayed(asset, offset, ts=ts, now=0)
    met = [
        again.observe("p1", over, 0.9 if over else 0.1, ts, now=1, seed=f"in/0/{o}", offset=o)
        for o, over, ts in readings  # committed before the first episode: every record met again
    ]
    assert met == [None] * 5
    assert again.observe("p1", True, 0.9, 104.0, now=2, seed="in/0/12", offset=12).kind == "open"  # a new one
