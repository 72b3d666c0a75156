"""Taking a moved asset's episode over, checked: an episode resolved before its asset reaches the new
partition is not taken over, an offer expires, a take-over that cannot read the alerts topic leaves
the episode, and the new owner names its suspect sensor (pipeline.handover; the moved fault itself:
test_pipeline_carryover_repartition.py).
"""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError
from test_pipeline_carryover import _daemon
from test_pipeline_carryover_repartition import (
    NEW,
    OLD,
    QUIET_S,
    _events,
    _grown,
    _listed,
    _Move,
    _records,
    _Topic,
)


def _b_reads(move: _Move, *, fault: bool, now: float = 10.0) -> list[dict]:
    """hot-1's next two readings, on the new partition (B's first of it)."""
    events = _events(
        move.b.processor.process(_records(NEW, "hot-1", 2, fault=fault, start=100), now=now).messages
    )
    move.by_b += events
    move.topic += events
    return events


def _resolved_on_a(move: _Move, resolved_by: str) -> dict:
    """The old owner resolves hot-1's episode after B's carry-over read, before hot-1 reaches B."""
    a = move.a.processor
    if resolved_by == "normal_scores":  # its last readings on the old partition: the fault ended
        events = _events(a.process(_records(OLD, "hot-1", 3, fault=False, start=6), now=5.0).messages)
    else:  # it fell silent there: vetted (nobody took it over), held back once, then resolved
        hold = move.a.settings.kafka.max_poll_interval_ms / 1000
        assert move.sweep_a(QUIET_S) == []
        events = _events(a.sweep(now=QUIET_S + hold))
    move.by_a += events
    move.topic += events
    (resolved,) = events
    assert (resolved["state"], resolved["resolved_by"]) == ("resolved", resolved_by)
    return resolved


@pytest.mark.parametrize("resolved_by", ["normal_scores", "silence"])
@pytest.mark.parametrize("fault", [False, True])
def test_an_episode_resolved_before_its_asset_reaches_the_new_partition_is_not_taken_over(
    fitted, monkeypatch, resolved_by, fault
) -> None:
    # Before, B took the episode it was offered over at hot-1's first record, though the old owner had
    # resolved it since: an `open` again for an episode that was over, and hot-1 anomalous (a page).
    move = _grown(fitted, monkeypatch)
    first = _resolved_on_a(move, resolved_by)["alert_id"]
    events = _b_reads(move, fault=fault)
    assert move.b_registry.get_sample_value("dhag_alerts_carried_over_total") == 0
    assert all(e["alert_id"] != first for e in events)
    if not fault:  # scored afresh: nothing to say, not anomalous
        assert events == [] and not move.b.processor.trackers[("in", 3)].is_open("hot-1")
        assert move.b_registry.get_sample_value("dhag_asset_anomalous", {"asset": "hot-1"}) == 0
    else:  # a fault again is a new episode, opened as any (open_after readings over the threshold)
        assert [e["state"] for e in events] == ["open"]
        assert move.b_registry.get_sample_value("dhag_alerts_opened_total") == 1
    listed = _listed(fitted, monkeypatch, move.topic)
    assert [(e["alert_id"], e["state"]) for e in listed if e["alert_id"] == first] == [(first, "resolved")]


@pytest.mark.parametrize("late", [0.0, 1.0])
def test_an_asset_that_reaches_the_new_partition_after_the_offer_expired_opens_a_new_episode(
    fitted, monkeypatch, late
) -> None:
    # The offer runs alerts.quiet_s from B's carry-over read (time 0): hot-1's first record on the new
    # partition up to then takes the episode over; after it, its fault opens once more under a new
    # alert_id, without a read of the alerts topic, and the old owner resolves the first by silence.
    move = _grown(fitted, monkeypatch)
    first = move.by_a[0]["alert_id"]
    assert move.b.processor.offered["hot-1"][2] == QUIET_S
    events = _b_reads(move, fault=True, now=QUIET_S + late)
    (again,) = events
    assert again["state"] == "open"
    if not late:  # still offered: taken over, after the check of the alerts topic
        assert again["alert_id"] == first and move.topic.reads == 2
        assert move.b_registry.get_sample_value("dhag_alerts_carried_over_total") == 1
        assert move.b_registry.get_sample_value("dhag_alerts_opened_total") == 0
        return
    assert again["alert_id"] != first and again["opened_at"] != move.by_a[0]["opened_at"]
    assert again["source"].startswith("in/3/") and move.topic.reads == 1  # B's carry-over read alone
    assert move.b_registry.get_sample_value("dhag_alerts_carried_over_total") == 0
    assert move.b_registry.get_sample_value("dhag_alerts_opened_total") == 1
    resolved = _resolved_on_a(move, "silence")  # not taken over: the vet finds it on A's partition
    assert resolved["alert_id"] == first
    assert move.a_registry.get_sample_value("dhag_alerts_handed_over_total") == 0
    listed = _listed(fitted, monkeypatch, move.topic)
    assert sorted((e["alert_id"], e["state"]) for e in listed) == sorted(
        [(first, "resolved"), (again["alert_id"], "open")]
    )


def test_a_take_over_that_cannot_check_the_alerts_topic_leaves_the_episode(fitted, monkeypatch) -> None:
    move = _grown(fitted, monkeypatch)

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KafkaTimeoutError("reading anomaly-alerts took over 15s")

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", fail)
    events = _b_reads(move, fault=True)  # scored afresh, as before the hand-over existed
    assert [e["state"] for e in events] == ["open"] and events[0]["alert_id"] != move.by_a[0]["alert_id"]
    assert move.b_registry.get_sample_value("dhag_alerts_carried_over_total") == 0
    failures = {"operation": "carry_over"}
    assert move.b_registry.get_sample_value("dhag_broker_failures_total", failures) == 1
    assert "hot-1" not in move.b.processor.offered


def test_the_new_owner_names_the_taken_over_episodes_suspect_sensor(fitted, monkeypatch) -> None:
    move = _grown(fitted, monkeypatch)
    (again,) = _b_reads(move, fault=True)
    assert again["alert_id"] == move.by_a[0]["alert_id"]
    sensor = again["suspect_sensors"][0]["sensor"]
    assert sensor == move.by_a[0]["suspect_sensors"][0]["sensor"]
    suspect = {"asset": "hot-1", "sensor": sensor}
    assert move.b_registry.get_sample_value("dhag_asset_suspect_sensor", suspect) == 1
    assert move.a_registry.get_sample_value("dhag_asset_suspect_sensor", suspect) == 1  # A's, until its vet


def test_the_read_before_a_hand_over_finds_resolutions_without_a_source(fitted, monkeypatch) -> None:
    topic = _Topic()
    opened = {"schema": 1, "alert_id": "a1", "asset_id": "p1", "state": "open", "source": "in/0/4"}
    topic += [
        opened,
        opened | {"source": "in/3/9"},  # taken over on partition 3
        {"alert_id": ["a1"], "state": "resolved"},  # not an alert event
        opened | {"alert_id": "a2", "source": "other/5/1"},
        {k: v for k, v in opened.items() if k != "source"} | {"alert_id": "a2", "state": "resolved"},
        opened | {"alert_id": "a3"},
    ]
    monkeypatch.setattr("pipeline.rebalance.read_alert_events", topic.read)
    daemon, _, _ = _daemon(fitted, [])
    latest = daemon._latest_sources({"a1", "a2", "a4"})
    assert latest == {"a1": (3, False), "a2": (None, True)}
