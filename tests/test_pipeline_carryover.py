"""Open alert episodes carried over to a partition's next owner (pipeline.carryover): which episodes the
alerts topic leaves open, how a tracker carries one on, and the daemon doing it at an assignment."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_alert_delivery import Rec, _Consumer, _Delivery

from pipeline.alerts import AlertTracker, Transition
from pipeline.carryover import EpisodeFold, open_episodes
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

SENSORS = [{"sensor": "bearing_temp", "contribution": 0.7}]


def _event(alert_id: str, asset: str, state: str = "open", *, source: str = "in/0/5", **extra) -> dict:
    return {
        "alert_id": alert_id,
        "asset_id": asset,
        "state": state,
        "opened_at": 10.0,
        "ts": 10.0 if state == "open" else 20.0,
        "score": 0.9,
        "source": source,
        "top_sensors": SENSORS,
        "values": {"bearing_temp": 95.0},
    } | extra


def _open(events: list[dict]) -> list[tuple[int, str, str]]:
    found = open_episodes(events, input_topic="in")
    return sorted((tp, t.asset_id, t.alert_id) for tp, ts in found.items() for t in ts)


def test_episodes_left_open_are_found_by_the_partition_their_source_record_was_on() -> None:
    events = [
        _event("a1", "p1", source="in/0/5"),
        _event("a2", "p2", source="in/2/9"),
        _event("a3", "p3", source="in/1/1"),
        _event("a3", "p3", "resolved", source="in/1/1"),
        _event("a4", "p4", source="other/0/1"),  # another input topic's episode
    ]
    assert _open(events) == [(0, "p1", "a1"), (2, "p2", "a2")]


def test_a_fold_for_some_partitions_keeps_only_their_episodes() -> None:
    fold = EpisodeFold("in", [2])
    for event in (_event("a1", "p1", source="in/0/5"), _event("a2", "p2", source="in/2/9")):
        fold.add(event)
    assert {tp: [t.alert_id for t in ts] for tp, ts in fold.result().items()} == {2: ["a2"]}


def test_of_two_episodes_left_open_on_one_asset_the_newer_is_carried_on() -> None:
    older = _event("old", "p1", opened_at=1.0, source="in/0/1")
    newer = _event("new", "p1", opened_at=5.0, source="in/0/9")
    assert _open([older, newer]) == [(0, "p1", "new")]
    assert _open([newer, older]) == [(0, "p1", "new")]
    # An orphan resolved later (its asset's newer episode still open) leaves the newer one alone.
    assert _open([older, newer, _event("old", "p1", "resolved", source="in/0/1")]) == [(0, "p1", "new")]


def test_an_open_event_read_again_after_its_resolution_does_not_reopen_it() -> None:
    replayed = [_event("a1", "p1"), _event("a1", "p1", "resolved"), _event("a1", "p1")]
    assert _open(replayed) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"source": None},
        {"source": "in/zero/5"},
        {"source": "in5"},
        {"score": float("nan")},
        {"score": "high"},
        {"state": "acknowledged"},
        {"alert_id": 7},
        {"asset_id": None},
    ],
)
def test_events_that_are_no_alert_events_of_this_input_are_skipped(bad: dict) -> None:
    event = _event("a1", "p1") | bad
    assert _open([event]) == []
    without = {k: v for k, v in _event("a1", "p1").items() if k != next(iter(bad))}
    assert _open([without]) == []


def test_a_carried_episode_resolves_under_its_own_id_with_what_its_open_event_said() -> None:
    (episode,) = open_episodes([_event("a1", "p1")], input_topic="in")[0]
    tracker = AlertTracker(open_after=2, window=3, resolve_after=2, quiet_s=60)
    assert tracker.adopt(episode, now=100.0)
    assert tracker.is_open("p1")
    assert tracker.observe("p1", True, 0.8, 30.0, now=101.0, seed="in/0/50") is None  # no second open
    assert tracker.observe("p1", False, 0.1, 31.0, now=102.0, seed="in/0/51") is None
    resolved = tracker.observe("p1", False, 0.1, 32.0, now=103.0, seed="in/0/52")
    assert resolved is not None
    assert (resolved.kind, resolved.alert_id, resolved.opened_at, resolved.source) == (
        "resolved",
        "a1",
        10.0,
        "in/0/5",
    )
    # imputed: not said (an old event); no suspect sensors either
    assert resolved.context == (SENSORS, {"bearing_temp": 95.0}, None, [])


def test_a_carried_episode_of_an_asset_that_stays_silent_resolves_after_the_quiet_time() -> None:
    (episode,) = open_episodes([_event("a1", "p1")], input_topic="in")[0]
    tracker = AlertTracker(open_after=1, window=1, resolve_after=5, quiet_s=60)
    tracker.adopt(episode, now=100.0)
    assert tracker.sweep(now=159.0) == []  # the quiet time counts from the carry-over, not the open
    (resolved,) = tracker.sweep(now=160.0)
    assert (resolved.alert_id, resolved.resolved_by, resolved.ts) == ("a1", "silence", 10.0)


def test_an_asset_with_state_keeps_it_and_a_rollback_undoes_a_carry_over() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    tracker.observe("p1", False, 0.1, 1.0, now=0.0, seed="in/0/1")
    (episode,) = open_episodes([_event("a1", "p1")], input_topic="in")[0]
    assert not tracker.adopt(episode, now=1.0)
    assert not tracker.is_open("p1")
    point = tracker.savepoint()
    other = Transition("open", "a2", "p2", 1.0, 1.0, 0.9, None, source="in/0/2")
    assert tracker.adopt(other, now=1.0)
    tracker.rollback(point)
    assert not tracker.is_open("p2") and len(tracker) == 1


def _hand(events: list[dict], on_event) -> list[dict]:  # noqa: ANN001 - read_alert_events' callback
    """What a read of the alerts topic does with its events: each to ``on_event``, none kept."""
    for event in events:
        on_event(event)
    return []


# -- the daemon, with a consumer and a broker in memory ---------------------------------------------------
TP = TopicPartition("in", 0)


def _daemon(fitted, records: list[Rec], **alerts) -> tuple[Daemon, _Delivery, CollectorRegistry]:
    settings = Settings.model_validate(
        {
            "kafka": {"topics": {"input": "in"}, "backoff_initial_s": 0.01, "backoff_max_s": 0.02},
            "alerts": {"open_after": 2, "window": 3, "resolve_after": 3, "resolve_hold_s": 0.0} | alerts,
        }
    )
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.consumer = _Consumer(records, daemon)  # type: ignore[assignment]
    daemon.delivery = delivery = _Delivery(set())  # type: ignore[assignment]
    return daemon, delivery, registry


def _readings(n: int, *, fault: bool, start: int = 0) -> list[Rec]:
    rows = normal(np.random.default_rng(start), n)
    if fault:
        rows[:, 3] += 9.0
    return [
        Rec("in", 0, start + i, b"hot-1", reading("hot-1", 100.0 + start + i, row))
        for i, row in enumerate(rows)
    ]


def _alerts(delivery: _Delivery) -> list[dict]:
    return [orjson.loads(m.value) for m in delivery.sent if m.topic == "anomaly-alerts"]


@pytest.mark.parametrize("fault_goes_on", [False, True])
def test_a_daemon_assigned_a_partition_carries_on_its_open_episode(
    fitted, monkeypatch, fault_goes_on
) -> None:
    # Before, a restarted daemon opened an ongoing fault a second time under a new alert_id, and an
    # episode whose fault ended while it was down was never resolved.
    asked: list[float] = []

    def read(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        asked.append(since)
        return _hand(
            [_event("a1", "hot-1", source="in/0/5"), _event("zz", "cold-1", source="in/1/3")], on_event
        )

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, delivery, registry = _daemon(fitted, _readings(4, fault=fault_goes_on, start=10))
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    assert len(asked) == 1
    assert registry.get_sample_value("dhag_alerts_carried_over_total") == 1  # partition 1 is not ours
    assert registry.get_sample_value("dhag_asset_anomalous", {"asset": "hot-1"}) == 1
    consumer = daemon.consumer
    assert consumer is not None
    daemon._handle(consumer.poll(timeout_ms=0, max_records=10)[TP])
    events = _alerts(delivery)
    if fault_goes_on:
        assert events == []  # the same episode goes on: no second open
        assert daemon.processor.trackers[("in", 0)].is_open("hot-1")
    else:
        assert [(e["state"], e["alert_id"], e["opened_at"]) for e in events] == [("resolved", "a1", 10.0)]
        assert events[0]["top_sensors"] == SENSORS and events[0]["source"] == "in/0/5"
    # A rebalance that hands the partition straight back keeps the live state: no second read.
    daemon._on_revoked({TP}, lost=False)
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    assert len(asked) == 1


def test_an_episode_carried_over_holds_from_its_first_reading_after_the_restart(fitted, monkeypatch) -> None:
    # The open event says when the episode opened (10), not when its last high score came: the hold
    # starts again at the first reading here (110), so an ongoing fault is not resolved early.
    monkeypatch.setattr(
        "pipeline.rebalance.read_alert_events",
        lambda *a, on_event, **k: _hand([_event("a1", "hot-1", source="in/0/5")], on_event),
    )
    calm = _readings(4, fault=False, start=10) + _readings(3, fault=False, start=308)  # 110-113, 408-410
    daemon, delivery, _ = _daemon(fitted, calm, resolve_hold_s=300.0)
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    consumer = daemon.consumer
    assert consumer is not None
    daemon._handle(consumer.poll(timeout_ms=0, max_records=6)[TP])  # up to 409: 299 s on
    assert _alerts(delivery) == [] and daemon.processor.trackers[("in", 0)].is_open("hot-1")
    daemon._handle(consumer.poll(timeout_ms=0, max_records=1)[TP])
    assert [(e["state"], e["alert_id"], e["ts"]) for e in _alerts(delivery)] == [("resolved", "a1", 410.0)]


def test_a_daemon_that_cannot_read_the_alerts_topic_starts_the_partition_afresh(fitted, monkeypatch) -> None:
    def read(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        raise KafkaTimeoutError("reading anomaly-alerts took over 15s")

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, delivery, registry = _daemon(fitted, _readings(6, fault=True))
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    assert registry.get_sample_value("dhag_broker_failures_total", {"operation": "carry_over"}) == 1
    consumer = daemon.consumer
    assert consumer is not None
    daemon._handle(consumer.poll(timeout_ms=0, max_records=10)[TP])
    assert [e["state"] for e in _alerts(delivery)] == ["open"]  # as before the carry-over existed


def test_carry_over_switched_off_reads_nothing(fitted, monkeypatch) -> None:
    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the alerts topic was read")

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, _, _ = _daemon(fitted, [], carry_over_s=None)
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    assert ("in", 0) not in daemon.processor.trackers


def test_a_revoke_without_the_groups_answer_yet_carries_nothing_over(fitted, monkeypatch) -> None:
    # Until the group answers a rebalance, assignment() still names the partitions held before. A
    # carry-over then adopted episodes of partitions about to go to another member, kept their state,
    # and resolved them by quiet time while that member carried them on.
    reads: list[float] = []

    def read(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        reads.append(since)
        return _hand([_event("x1", "cold-1", source="in/1/3")], on_event)

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, _, _ = _daemon(fitted, [], quiet_s=60)
    p0, p1 = TopicPartition("in", 0), TopicPartition("in", 1)
    held = {p0, p1}
    daemon.consumer.assignment = lambda: set(held)  # type: ignore[method-assign, union-attr]
    daemon._on_assigned({p0, p1})
    daemon._apply_rebalances()
    assert len(reads) == 1 and daemon.processor.trackers[("in", 1)].is_open("cold-1")
    daemon._committed = {p0: 10}  # p1 has records not yet committed: it starts afresh
    daemon._on_revoked({p0, p1}, lost=False)
    daemon._apply_rebalances()  # the group has not answered: nothing read, nothing adopted
    assert len(reads) == 1 and ("in", 1) not in daemon.processor.trackers
    held.discard(p1)
    daemon._on_assigned({p0})
    daemon._apply_rebalances()
    assert set(daemon.processor.trackers) <= {("in", 0)}
    assert daemon.processor.sweep(now=1e12) == []  # nothing of p1's to resolve


def test_records_before_a_carried_episode_opened_leave_it_as_it_is(fitted, monkeypatch) -> None:
    # A crash between delivery and commit: the alerts topic holds the open event of records the next
    # owner processes again. Before, the normal records before the opening one resolved the episode,
    # and the opening one opened it again under the same alert_id.
    records = _readings(10, fault=False) + _readings(6, fault=True, start=10)
    first, delivered, _ = _daemon(fitted, records)
    first._handle(records)
    opened = _alerts(delivered)
    assert [e["state"] for e in opened] == ["open"]
    monkeypatch.setattr(
        "pipeline.rebalance.read_alert_events", lambda *a, on_event, **k: _hand(opened, on_event)
    )
    second, again, _ = _daemon(fitted, records)
    second._on_assigned({TP})
    second._apply_rebalances()
    second._handle(records)  # the same records, from the last commit
    assert _alerts(again) == []
    assert second.processor.trackers[("in", 0)].is_open("hot-1")


def test_a_read_that_fails_in_any_way_leaves_scoring_going(fitted, monkeypatch) -> None:
    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("connection reset by peer")  # not a KafkaError: the daemon stopped on it

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, _, registry = _daemon(fitted, [])
    daemon._on_assigned({TP})
    assert daemon._apply_rebalances() is True
    assert registry.get_sample_value("dhag_broker_failures_total", {"operation": "carry_over"}) == 1


def _deeply_nested_open_event() -> dict:
    """An open event whose top_sensors orjson reads (nesting up to 1024) but cannot write (over 255)."""
    head = orjson.dumps(_event("a1", "hot-1"))[:-1]
    return orjson.loads(head + b',"top_sensors":[{"why":' + b"[" * 300 + b"]" * 300 + b'},{"sensor":"x"}]}')


def test_an_open_event_too_deep_to_write_again_resolves_with_what_can_be(fitted) -> None:
    # Adopted as it was read, its resolution could not be serialised: every later batch raised (each
    # of its records dead-lettered), and the idle sweep stopped the daemon, again after each restart.
    (episode,) = open_episodes([_deeply_nested_open_event()], input_topic="in")[0]
    assert episode.context[0] == [{"sensor": "x"}]
    records = _readings(8, fault=False, start=100)
    daemon, delivery, _ = _daemon(fitted, records, quiet_s=60)
    daemon.processor.carry_over(("in", 0), [episode], -1e6, {})  # adopted long ago: quiet time is up
    daemon._handle(records)
    assert [m.topic for m in delivery.sent if m.topic.endswith(".dlq")] == []
    (resolved,) = _alerts(delivery)
    assert (resolved["alert_id"], resolved["top_sensors"]) == ("a1", [{"sensor": "x"}])


def test_an_assignment_taken_back_before_it_was_applied_carries_nothing_over(fitted, monkeypatch) -> None:
    reads: list[float] = []

    def read(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        reads.append(since)
        return []

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    daemon, _, _ = _daemon(fitted, [])
    p0, p1 = TopicPartition("in", 0), TopicPartition("in", 1)
    held = {p0}
    daemon.consumer.assignment = lambda: set(held)  # type: ignore[method-assign, union-attr]
    daemon._on_assigned({p0})
    daemon._apply_rebalances()
    reads.clear()
    daemon._committed = {p0: 10}
    daemon._on_revoked({p0}, lost=False)
    held.add(p1)
    daemon._on_assigned({p0, p1})  # one rebalance answered ...
    daemon._on_revoked({p0, p1}, lost=False)  # ... and the next begun, before the loop applied either
    daemon._apply_rebalances()
    assert reads == []


def test_records_met_again_before_a_carried_episode_opened_keep_its_quiet_time_from_running_out() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=3, quiet_s=60)
    tracker.adopt(Transition("open", "a9", "p1", 5.0, 5.0, 0.9, None, source="in/0/100"), now=0)
    for k in range(50):  # the ongoing fault, replayed, before the opening record (at 5.0)
        ts = 4.0 + k * 0.01
        assert tracker.observe("p1", True, 0.9, ts, now=k * 2, seed=f"in/0/{50 + k}", offset=50 + k) is None
    assert tracker.sweep(now=100) == []  # the last over-threshold record was at 98
    one = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=60)
    one.adopt(Transition("open", "a9", "p1", 5.0, 5.0, 0.9, None, source="in/0/100"), now=0)
    point = one.savepoint()
    assert one.observe("p1", False, 0.1, 60, now=1, seed="in/0/101", offset=101).kind == "resolved"
    one.rollback(point)  # the opening offset is remembered again after a rollback
    assert one.observe("p1", False, 0.1, 4.9, now=2, seed="in/0/99", offset=99) is None
