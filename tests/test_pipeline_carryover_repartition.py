"""An ongoing fault when the readings topic gets more partitions: its asset's key hashes anew, so its
readings move to a partition whose owner never saw the asset. What operators see then, on the alerts
topic, in ``dhag-pipeline alerts`` and in the metrics (docs/runbooks/DhagConsumerLagHigh.md says it).

The new partition's owner takes the open episode over (the carry-over read keeps the episodes open on
the other partitions) and says its ``open`` event again from there; the old partition's owner, before
it resolves the episode by silence, reads the alerts topic, finds it taken over, and drops it without
an event (pipeline.handover).
"""

from __future__ import annotations

import argparse
import io
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import orjson
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from pipeline_kafka import reading
from plant_data import normal
from test_pipeline_alert_delivery import Rec
from test_pipeline_carryover import _daemon, _hand

from pipeline.alertscmd import run_alerts
from pipeline.carryover import EpisodeFold

QUIET_S = 60.0
OLD, NEW = TopicPartition("in", 0), TopicPartition("in", 3)  # hot-1's partition before and after
Message = namedtuple("Message", "value timestamp")


def _records(tp: TopicPartition, asset: str, n: int, *, fault: bool, start: int) -> list[Rec]:
    rows = normal(np.random.default_rng(start), n)
    if fault:
        rows[:, 3] += 9.0
    key = asset.encode()
    return [
        Rec(tp.topic, tp.partition, start + i, key, reading(asset, 100.0 + start + i, r))
        for i, r in enumerate(rows)
    ]


def _events(messages: list) -> list[dict]:
    return [orjson.loads(m.value) for m in messages if m.topic == "anomaly-alerts"]


class _Clock:
    """The processors' clock (``processor.clock``, which stamps the carry-over's offers): the test's
    time, which the ``now=`` of its batches and sweeps follow."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Topic(list):
    """The alerts topic the daemons write to and read back (pipeline.rebalance.read_alert_events)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, *args, on_event, **kwargs) -> list:  # noqa: ANN001, ANN002, ANN003
        self.reads += 1
        return _hand(list(self), on_event)


@dataclass
class _Move:
    a: object  # the old partition's owner
    b: object  # the new partition's
    a_registry: object
    b_registry: object
    by_a: list[dict]  # A's events
    by_b: list[dict]
    gauges: list[tuple]  # dhag_asset_anomalous of hot-1 on A and B at each step
    topic: _Topic
    clock: _Clock

    def sweep_a(self, now: float) -> list[dict]:
        events = _events(self.a.processor.sweep(now=now))
        self.by_a += events
        self.topic += events
        return events


def _rebalanced(daemon, tp: TopicPartition, committed: int) -> None:  # noqa: ANN001
    """The group rebalances (partitions added): ``tp`` revoked with its records committed, and handed
    straight back, so its alert state stays."""
    daemon._committed = {tp: committed}
    daemon.consumer.commits.append({tp.partition: committed})
    daemon.consumer.assignment = lambda: {tp}
    daemon._on_revoked({tp}, lost=False)
    daemon._on_assigned({tp})
    daemon._apply_rebalances()


def _grown(fitted, monkeypatch) -> _Move:  # noqa: ANN001
    """hot-1 faulty on the old partition (owner A), then the topic grown: A's partition comes back to A
    unchanged, and B, given the new partition, has made its carry-over read, all at time 0: B's offers
    run until QUIET_S."""
    topic, clock = _Topic(), _Clock()
    monkeypatch.setattr("pipeline.rebalance.read_alert_events", topic.read)
    a, _, a_registry = _daemon(fitted, [], quiet_s=QUIET_S)
    a.processor.clock = clock
    a.processor.read_until = lambda tp, now: now  # A reads its partition through: it keeps records coming
    a._on_assigned({OLD})  # A owns the old partition (nothing open on the alerts topic yet)
    a._apply_rebalances()
    topic.reads = 0
    by_a = _events(a.processor.process(_records(OLD, "hot-1", 6, fault=True, start=0), now=0.0).messages)
    assert [e["state"] for e in by_a] == ["open"]
    topic += by_a
    # The partition count grows: the group rebalances. A's partition comes back unchanged (its state
    # kept, nothing read); B gets the new partition without state and carries over what the alerts
    # topic leaves open there, keeping what it leaves open elsewhere.
    _rebalanced(a, OLD, 6)
    assert topic.reads == 0
    b, _, b_registry = _daemon(fitted, [], quiet_s=QUIET_S)
    b.processor.clock = clock
    b.processor.read_until = lambda tp, now: now
    b.consumer.assignment = lambda: {NEW}  # type: ignore[method-assign, union-attr]
    b._on_assigned({NEW})
    b._apply_rebalances()
    return _Move(a, b, a_registry, b_registry, by_a, [], [], topic, clock)


def _moved_fault(fitted, monkeypatch, *, moved: bool = True) -> _Move:  # noqa: ANN001
    """:func:`_grown`, then hot-1's fault goes on on the new partition (``moved``; else hot-1 falls
    silent); A's partition keeps its other asset. Ends once quiet_s passed since hot-1's last reading on
    the old partition, with A's sweep then."""
    move = _grown(fitted, monkeypatch)
    a, b, topic = move.a, move.b, move.topic
    for k in range(6):  # the fault goes on, now on the new partition; A's partition keeps its other asset
        t = 10.0 + k * 10
        if moved:
            out = b.processor.process(_records(NEW, "hot-1", 2, fault=True, start=100 + 2 * k), now=t)
            move.by_b += _events(out.messages)
            topic += _events(out.messages)
        a_out = a.processor.process(_records(OLD, "cold-1", 2, fault=False, start=200 + 2 * k), now=t)
        move.by_a += _events(a_out.messages)
        topic += _events(a_out.messages)
        registries = (move.a_registry, move.b_registry)
        move.gauges.append(
            tuple(r.get_sample_value("dhag_asset_anomalous", {"asset": "hot-1"}) for r in registries)
        )
    move.sweep_a(QUIET_S + 5.0)
    return move


def _listed(fitted, monkeypatch, events: list[dict]) -> list[dict]:  # noqa: ANN001
    """What `dhag-pipeline alerts --asset hot-1 --json` lists of ``events``."""
    messages = [Message(orjson.dumps(e), 0) for e in events]
    monkeypatch.setattr(
        "pipeline.alertscmd.read_topic",
        lambda bs, topic, *a, **k: messages if topic == "anomaly-alerts" else [],
    )
    out = io.StringIO()
    args = argparse.Namespace(limit=10, bootstrap="x:1", open=False, asset="hot-1", json=True)
    assert run_alerts(_daemon(fitted, [])[0].settings, args, out=out) == 0
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_moved_fault_stays_one_episode(fitted, monkeypatch) -> None:
    # Before, B found nothing carried over for hot-1 and opened its fault once more under a new
    # alert_id, and A resolved the first episode by silence though the fault went on.
    move = _moved_fault(fitted, monkeypatch)
    first = move.by_a[0]["alert_id"]
    assert [e["state"] for e in move.by_a] == ["open"]  # not resolved by the old owner: its asset moved
    assert move.a_registry.get_sample_value("dhag_alerts_resolved_total", {"resolved_by": "silence"}) == 0
    assert move.a_registry.get_sample_value("dhag_alerts_handed_over_total") == 1
    assert move.topic.reads == 3  # B's carry-over, its check at the take-over, A's one vet of the silence
    assert "hot-1" not in move.a.processor.trackers[("in", 0)]
    # B: the episode taken over and said again under its alert_id; no second episode.
    assert [(e["state"], e["alert_id"]) for e in move.by_b] == [("open", first)]
    assert move.b_registry.get_sample_value("dhag_alerts_carried_over_total") == 1
    assert move.b_registry.get_sample_value("dhag_alerts_opened_total") == 0
    assert move.b.processor.trackers[("in", 3)].is_open("hot-1")
    # On /metrics the asset is anomalous at every step: on both daemons until A's silence was due
    # (quiet_s after hot-1's last reading there, at the last step), then on B only.
    assert move.gauges[:-1] == [(1, 1)] * 5 and move.gauges[-1] == (None, 1)
    assert move.a_registry.get_sample_value("dhag_asset_anomalous", {"asset": "hot-1"}) is None
    # `dhag-pipeline alerts` lists one open episode, opened when it first opened.
    listed = _listed(fitted, monkeypatch, move.topic)
    opened = move.by_a[0]["opened_at"]
    assert [(e["alert_id"], e["state"], e["opened_at"]) for e in listed] == [(first, "open", opened)]
    # Later sweeps of A neither resolve it nor read again.
    assert move.sweep_a(QUIET_S + 500.0) == [] and move.topic.reads == 3


def test_the_taken_over_episode_is_said_again_from_its_new_partition(fitted, monkeypatch) -> None:
    move = _moved_fault(fitted, monkeypatch)
    (first,), (again,) = move.by_a, move.by_b
    assert again["source"] == "in/3/100"  # the first record of hot-1 on the new partition
    assert again["ts"] == 200.0  # that record's time
    same = ("schema", "alert_id", "asset_id", "state", "opened_at", "score", "top_sensors", "values")
    assert {k: again[k] for k in same} == {k: first[k] for k in same}
    assert again["suspect_sensors"] == first["suspect_sensors"]
    assert first["source"] == "in/0/0" or first["source"].startswith("in/0/")
    assert "resolved_by" not in again


def test_an_asset_that_really_fell_silent_is_resolved_by_silence_after_one_wait(fitted, monkeypatch) -> None:
    move = _moved_fault(fitted, monkeypatch, moved=False)
    # Due at the last step (quiet_s after hot-1's last reading), held back once: nobody took it over.
    assert move.by_b == [] and [e["state"] for e in move.by_a] == ["open"]
    assert move.topic.reads == 2  # B's carry-over, A's vet
    hold = move.a.settings.kafka.max_poll_interval_ms / 1000
    assert move.sweep_a(QUIET_S + hold - 1) == [] and move.topic.reads == 2
    (resolved,) = move.sweep_a(QUIET_S + hold)
    assert (resolved["alert_id"], resolved["resolved_by"]) == (move.by_a[0]["alert_id"], "silence")
    assert move.topic.reads == 3
    assert move.a_registry.get_sample_value("dhag_alerts_resolved_total", {"resolved_by": "silence"}) == 1
    assert move.a_registry.get_sample_value("dhag_alerts_handed_over_total") == 0


def test_a_silence_vetted_while_the_alerts_topic_cannot_be_read_is_resolved_after_one_wait(
    fitted, monkeypatch
) -> None:
    move = _moved_fault(fitted, monkeypatch, moved=False)

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KafkaTimeoutError("reading anomaly-alerts took over 15s")

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", fail)
    hold = move.a.settings.kafka.max_poll_interval_ms / 1000
    (resolved,) = move.sweep_a(QUIET_S + hold)  # as before the hand-over existed
    assert resolved["resolved_by"] == "silence"
    # The failed read counts as a failed read of the alerts topic does at a carry-over.
    failures = {"operation": "carry_over"}
    assert move.a_registry.get_sample_value("dhag_broker_failures_total", failures) == 1


def test_an_old_owner_restarted_after_the_take_over_does_not_carry_the_episode_on(
    fitted, monkeypatch
) -> None:
    move = _moved_fault(fitted, monkeypatch)
    topic = _Topic()
    topic += [e for e in move.topic if e["asset_id"] == "hot-1"]  # its open, and the new owner's
    first = move.by_a[0]["alert_id"]
    assert [(e["state"], e["alert_id"], e["source"][:5]) for e in topic] == [
        ("open", first, "in/0/"),
        ("open", first, "in/3/"),
    ]
    monkeypatch.setattr("pipeline.rebalance.read_alert_events", topic.read)
    a, _, registry = _daemon(fitted, [], quiet_s=QUIET_S)
    a._on_assigned({OLD})
    a._apply_rebalances()
    assert registry.get_sample_value("dhag_alerts_carried_over_total") == 0
    assert a.processor.sweep(now=1e6) == []
    b, _, registry = _daemon(fitted, [], quiet_s=QUIET_S)  # the new owner restarted: carried on there
    b.consumer.assignment = lambda: {NEW}  # type: ignore[method-assign, union-attr]
    b._on_assigned({NEW})
    b._apply_rebalances()
    assert registry.get_sample_value("dhag_alerts_carried_over_total") == 1
    assert b.processor.trackers[("in", 3)].is_open("hot-1")


def test_the_episodes_kept_of_other_partitions_are_the_open_ones_one_per_asset(fitted) -> None:
    fold = EpisodeFold("in", [3], elsewhere=True)
    for asset in range(20):
        for k in range(10):  # ten episodes each, opened and resolved; the last of the even ones left open
            opened = {"alert_id": f"e{asset}-{k}", "asset_id": f"p{asset}", "state": "open", "ts": float(k)}
            opened |= {"opened_at": float(k), "score": 0.9, "source": f"in/{asset % 3}/{k}"}
            fold.add(opened)
            if k < 9 or asset % 2:
                fold.add(opened | {"state": "resolved", "ts": k + 0.5})
    kept = fold.elsewhere()
    assert sorted(kept) == sorted(f"p{a}" for a in range(0, 20, 2))
    assert all(t.alert_id.endswith("-9") for _, t in kept.values())
    assert fold.result() == {} and len(fold._resolved) <= 20
    # Offered for quiet_s from the read, in place of what the read before offered.
    daemon, _, _ = _daemon(fitted, [], quiet_s=QUIET_S)
    daemon.processor.offer(kept, now=0.0)
    daemon.processor.offer({"p0": kept["p0"]}, now=0.0)
    assert list(daemon.processor.offered) == ["p0"]
    late = _records(NEW, "p0", 1, fault=True, start=0)[0]
    assert daemon.processor._take_over(late, "p0", 1.0, QUIET_S + 1.0) is None
    assert daemon.processor._take_over(late, "p0", 1.0, QUIET_S) is not None
