"""The daemon's loop without a broker. An alert event reaches the broker even when its first delivery
fails: the batch (or the idle sweep) is undone and done again from the alert state before it, never from
the state after it. Alert state survives a rebalance that hands a partition straight back."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import orjson
import pytest
from kafka import OffsetAndMetadata, TopicPartition
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.delivery import DeliveryError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")
TP = TopicPartition("in", 0)


class _Consumer:
    """One partition held in memory; poll hands out up to ``max_records`` from the position."""

    def __init__(self, records: list[Rec], daemon: Daemon) -> None:
        self.records, self.pos, self.commits, self.empty_polls = records, 0, [], 0
        self.daemon = daemon

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        batch = self.records[self.pos : self.pos + max_records]
        self.pos += len(batch)
        if not batch:
            self.empty_polls += 1
            if self.empty_polls >= 3:
                self.daemon.request_stop()
        return {TP: batch} if batch else {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.pos = offset

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        self.commits.append({tp.partition: meta.offset for tp, meta in offsets.items()})

    commit_async = commit

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return next((c[tp.partition] for c in reversed(self.commits) if tp.partition in c), None)

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def paused(self) -> set[TopicPartition]:
        return set()

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records)

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, len(self.records))

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return self.pos


class _Delivery:
    """Takes messages, except for the calls numbered in ``fail`` (1 = the first call with messages)."""

    def __init__(self, fail: set[int]) -> None:
        self.fail, self.calls, self.sent = fail, 0, []

    def deliver(self, messages: list) -> None:
        if not messages:
            return
        self.calls += 1
        if self.calls in self.fail:
            raise DeliveryError("the broker did not acknowledge")
        self.sent.extend(messages)

    def replace(self) -> None:
        pass

    def close(self, timeout_s: float = 5.0) -> None:
        pass


def _daemon(fitted, records: list[Rec], fail: set[int], batch: int, **alerts) -> tuple[Daemon, _Delivery]:
    settings = Settings.model_validate(
        {
            "kafka": {"batch_size": batch, "backoff_initial_s": 0.01, "backoff_max_s": 0.02},
            "alerts": {"open_after": 2, "window": 3, "resolve_after": 3, "resolve_hold_s": 0.0} | alerts,
        }
    )
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.consumer = _Consumer(records, daemon)  # type: ignore[assignment]
    daemon.delivery = delivery = _Delivery(fail)  # type: ignore[assignment]
    return daemon, delivery


def _count(daemon: Daemon, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of the daemon's metrics (0 when absent)."""
    return daemon.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def _events(delivery: _Delivery) -> list[tuple[str, str]]:
    return [
        (event["state"], event["alert_id"])
        for event in (orjson.loads(m.value) for m in delivery.sent if m.topic == "anomaly-alerts")
    ]


def _fault_after_normal(n_normal: int, n_fault: int) -> list[Rec]:
    rows = normal(np.random.default_rng(1), n_normal + n_fault)
    rows[n_normal:, 3] += 9.0
    return [Rec("in", 0, i, b"hot-1", reading("hot-1", 1.0 + i, row)) for i, row in enumerate(rows)]


@pytest.mark.parametrize("batch", [10, 20])
def test_an_alert_whose_delivery_failed_is_delivered_when_its_batch_is_processed_again(
    fitted, batch: int
) -> None:
    # Before, the retried batch started from the state its failed attempt left: the episode was already
    # open, so its open event never came (batch 10), or the normal scores it met again resolved it
    # while the fault went on (batch 20).
    records = _fault_after_normal(10, 10)
    daemon, delivery = _daemon(fitted, records, fail={1}, batch=batch)
    daemon._loop()
    (opened,) = _events(delivery)
    assert opened[0] == "open"
    assert daemon.processor.trackers[("in", 0)].is_open("hot-1")
    assert daemon.consumer.commits[-1] == {0: 20}  # type: ignore[union-attr]
    # Counted once, as delivered; before, the failed attempt's records and alert were counted too.
    processed = _count(daemon, "dhag_records_processed_total", {"outcome": "ok"})
    assert _count(daemon, "dhag_records_consumed_total") == processed == 20
    assert _count(daemon, "dhag_alerts_opened_total") == 1
    assert _count(daemon, "dhag_anomaly_score_count") == 20


def test_a_quiet_time_resolution_whose_delivery_failed_is_sent_on_the_next_idle_poll(fitted) -> None:
    records = _fault_after_normal(0, 3)
    daemon, delivery = _daemon(fitted, records, fail={2}, batch=10, quiet_s=1e-9)
    daemon.positions.last_at = -1e18  # the first idle poll looks at the positions: all read
    daemon._loop()
    states = [state for state, _ in _events(delivery)]
    assert states == ["open", "resolved"]
    assert delivery.calls == 3  # the open, the failed resolution, the resolution again
    assert _count(daemon, "dhag_alerts_resolved_total", {"resolved_by": "silence"}) == 1


def test_an_episode_opened_by_a_batch_that_raised_opens_again_when_it_is_processed_record_by_record(
    fitted, monkeypatch
) -> None:
    from pipeline.poison import process_guarded

    records = _fault_after_normal(0, 3)
    daemon, _ = _daemon(fitted, records, fail=set(), batch=10)
    proc = daemon.processor
    explain, calls = proc.model.explain, [0]

    def fails_once(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the wrapped method's signature
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("unforeseen")  # after the episode opened, before its event was made
        return explain(*args, **kwargs)

    monkeypatch.setattr(proc.model, "explain", fails_once)
    out = process_guarded(proc, records, now=0.0)
    assert (out.opened, out.dead_lettered) == (1, 0)
    assert [orjson.loads(m.value)["state"] for m in out.messages if m.topic == "anomaly-alerts"] == ["open"]


def test_an_episode_that_opens_and_resolves_in_one_batch_resolves_after_it_opened_naming_its_sensors(
    fitted,
) -> None:
    rows = normal(np.random.default_rng(4), 8)
    rows[:3, 3] += 9.0  # opens at the second record, resolves after three normal ones, then opens again
    rows[6:, 3] += 9.0
    records = [Rec("in", 0, i, b"p", reading("p", 1.0 + i, row)) for i, row in enumerate(rows)]
    daemon, _ = _daemon(fitted, records, fail=set(), batch=10)
    out = daemon.processor.process(records, now=0.0)
    events = [orjson.loads(m.value) for m in out.messages if m.topic == "anomaly-alerts"]
    assert [e["state"] for e in events] == ["open", "resolved", "open"]
    assert events[0]["alert_id"] == events[1]["alert_id"] != events[2]["alert_id"]
    assert events[1]["top_sensors"] == events[0]["top_sensors"] and events[1]["top_sensors"]


@pytest.mark.parametrize(
    ("meanwhile", "carries_on"),
    [(None, True), ("another member committed", False), ("not assigned again", False)],
)
def test_an_episode_carries_on_through_a_rebalance_that_hands_its_partition_straight_back(
    fitted, meanwhile: str | None, carries_on: bool
) -> None:
    # kafka-python's default assignors revoke every partition on every rebalance. Before, each ongoing
    # fault then opened a second time under a new id, and the first id was never resolved.
    records = _fault_after_normal(0, 10)
    daemon, delivery = _daemon(fitted, records, fail=set(), batch=5, resolve_after=100)
    consumer = daemon.consumer
    assert consumer is not None
    daemon._handle(consumer.poll(timeout_ms=0, max_records=5)[TP])
    assert [state for state, _ in _events(delivery)] == ["open"]
    daemon._on_revoked({TP}, lost=False)  # an eager rebalance: everything is revoked first
    if meanwhile == "another member committed":
        consumer.commit({TP: OffsetAndMetadata(7, "", -1)})
    if meanwhile == "not assigned again":
        consumer.assignment = set  # type: ignore[method-assign]
    daemon._on_assigned(consumer.assignment())
    daemon._apply_rebalances()
    if carries_on:
        daemon._handle(consumer.poll(timeout_ms=0, max_records=5)[TP])
        assert [state for state, _ in _events(delivery)] == ["open"]  # the same episode, no second open
        assert daemon.processor.trackers[("in", 0)].is_open("hot-1")
    else:
        assert ("in", 0) not in daemon.processor.trackers


def _one_batch_of_a_fault(fitted) -> tuple[Daemon, _Consumer]:  # noqa: ANN001 - the fitted model
    """A daemon that handled the first 5 records of a fault (an episode opened), and its consumer."""
    daemon, _ = _daemon(fitted, _fault_after_normal(0, 10), fail=set(), batch=5, resolve_after=100)
    consumer = daemon.consumer
    assert isinstance(consumer, _Consumer)
    daemon._handle(consumer.poll(timeout_ms=0, max_records=5)[TP])
    return daemon, consumer


def _revoke_and_assign_again(daemon: Daemon, *, lost: bool) -> None:
    daemon._on_revoked({TP}, lost=lost)
    daemon._on_assigned({TP})
    daemon._apply_rebalances()


def test_a_partition_revoked_with_records_not_yet_committed_starts_afresh(fitted) -> None:
    daemon, _ = _one_batch_of_a_fault(fitted)
    daemon._pending[TP] = 9  # processed, its commit not yet made
    _revoke_and_assign_again(daemon, lost=False)
    assert ("in", 0) not in daemon.processor.trackers  # those records may be scored elsewhere too


def test_a_daemon_on_a_quiet_input_counts_as_processing_from_its_start(fitted, monkeypatch) -> None:
    # dhag_last_processed_timestamp_seconds was 0 until the first batch: DhagProcessingStalled fired
    # two minutes after a restart onto a quiet input instead of after five minutes of silence.
    import time

    daemon, _ = _daemon(fitted, [], fail=set(), batch=10)
    consumer = daemon.consumer
    monkeypatch.setattr(daemon, "_connect", lambda: setattr(daemon, "consumer", consumer) or True)
    consumer.subscribe = lambda topics, listener: None  # type: ignore[union-attr]
    consumer.close = lambda autocommit, timeout_ms=None: None  # type: ignore[union-attr]
    before = time.time()
    assert daemon.run() == 0  # three empty polls, then the stop the fake consumer asks for
    assert daemon.metrics.last_processed._value.get() >= before


def _refusing(consumer: _Consumer, times: int) -> None:
    """Make the consumer's next ``times`` commits fail as after a rebalance."""
    from kafka.errors import CommitFailedError

    commit, left = consumer.commit, [times]

    def refuse(offsets: dict, timeout_ms: int | None = None) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise CommitFailedError("the group rebalanced")
        commit(offsets, timeout_ms)

    consumer.commit = refuse  # type: ignore[method-assign]


def test_after_a_refused_commit_the_partition_is_not_settled_and_starts_afresh_when_revoked(fitted) -> None:
    # The records behind a refused commit are redelivered: alert state that already saw them must not
    # be held over, else they count twice in its hysteresis.
    daemon, consumer = _one_batch_of_a_fault(fitted)
    assert daemon._committed == {TP: 5}
    _refusing(consumer, 1)
    daemon._handle(consumer.poll(timeout_ms=0, max_records=5)[TP])
    assert TP not in daemon._committed and TP not in daemon._pending
    _revoke_and_assign_again(daemon, lost=False)
    assert ("in", 0) not in daemon.processor.trackers


def test_a_lost_partition_starts_afresh_even_with_everything_committed(fitted) -> None:
    daemon, _ = _one_batch_of_a_fault(fitted)
    assert daemon._committed == {TP: 5} and daemon.processor.trackers[("in", 0)].is_open("hot-1")
    _revoke_and_assign_again(daemon, lost=True)  # lost: another member may own it already
    assert ("in", 0) not in daemon.processor.trackers


def test_a_revoke_commits_what_was_processed_but_not_yet_committed(fitted) -> None:
    daemon, _ = _daemon(fitted, [], fail=set(), batch=5)
    consumer = daemon.consumer
    assert consumer is not None
    daemon._pending[TP] = 9
    daemon._on_revoked({TP}, lost=False)
    assert consumer.commits[-1] == {0: 9}


def test_a_batch_processed_again_after_a_failed_delivery_counts_once_in_the_dlq_ratio_cap(fitted) -> None:
    # Before, the failed attempt's records stayed in the cap's window: 10 records, 5 dead-lettered,
    # counted twice made 20 records, over min_records, and consumption paused.
    settings = Settings.model_validate(
        {
            "kafka": {"batch_size": 10, "backoff_initial_s": 0.01, "backoff_max_s": 0.02},
            "dlq": {"max_ratio": 0.4, "window": 100, "min_records": 15},
        }
    )
    metrics = PipelineMetrics(CollectorRegistry())
    processor = BatchProcessor(settings, fitted, "v1", metrics)
    daemon = Daemon(settings, processor, metrics, bootstrap_servers="x:1")
    records = [r._replace(value=b"{not json") if r.offset % 2 else r for r in _fault_after_normal(10, 0)]
    daemon.consumer = _Consumer(records, daemon)  # type: ignore[assignment]
    daemon.delivery = delivery = _Delivery({1})  # type: ignore[assignment]
    daemon._loop()
    assert len([m for m in delivery.sent if m.topic.endswith(".dlq")]) == 5  # delivered once
    assert not daemon.dlq_pause.active
    assert (processor.guard.ratio, _count(daemon, "dhag_dlq_window_ratio")) == (0.5, 0.5)
    assert not processor.guard.add(total=4, dead=4)  # the window holds 10 records, not 20
    assert processor.guard.add(total=1, dead=1)
