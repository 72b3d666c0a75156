"""The input topic deleted and created again with fewer partitions while the daemon runs: the group's
leader sees the partitions gone at its next metadata refresh and the group rebalances. Nothing of a
partition that no longer exists stays behind (its assets' alert state and series, its lag series), and
the partitions that do exist again start afresh: the broker dropped the group's offsets with the old
topic, so whatever this daemon scored there is no longer what the topic holds."""

from __future__ import annotations

import numpy as np
from kafka import TopicPartition
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_alert_delivery import Rec

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

P0, P1, P2 = (TopicPartition("in", p) for p in range(3))


class _Member:
    """A group member of the topic: its ends, its positions and the group's committed offsets."""

    def __init__(self) -> None:
        self.held = {P0, P1, P2}
        self.ends = {P0: 100, P1: 100, P2: 100}
        self.at = {P0: 100, P1: 100, P2: 60}  # P2: 40 records waiting
        self.commits = {P0: 100, P1: 100, P2: 60}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return self.at[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return self.ends[tp]

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.commits.get(tp)

    def commit_async(self, offsets: dict) -> None:
        self.commits.update({tp: meta.offset for tp, meta in offsets.items()})

    def recreated(self, partitions: int) -> None:
        """The topic deleted and created again with ``partitions``: new, empty logs, and the group's
        offsets of the old topic gone (the broker deletes them with it)."""
        kept = {TopicPartition("in", p) for p in range(partitions)}
        self.ends = {tp: 3 for tp in kept}
        self.at = {tp: 0 for tp in kept}
        self.commits = {}


def _series(metrics: PipelineMetrics, name: str, label: str) -> dict[str, float]:
    return {s.labels[label]: s.value for m in metrics.registry.collect() for s in m.samples if s.name == name}


def _faulty(tp: TopicPartition, asset: str, start: int, n: int = 12) -> list[Rec]:
    rows = normal(np.random.default_rng(start), n)
    rows[:, 3] += 9.0  # far outside normal operation: an episode opens
    key = asset.encode()
    return [
        Rec(tp.topic, tp.partition, start + i, key, reading(asset, 100.0 + start + i, row))
        for i, row in enumerate(rows)
    ]


def _daemon(fitted) -> tuple[Daemon, _Member, PipelineMetrics]:  # noqa: ANN001 - the fitted model
    settings = Settings.model_validate(
        {"kafka": {"topics": {"input": "in"}}, "alerts": {"carry_over_s": None}}
    )
    metrics = PipelineMetrics(CollectorRegistry())
    processor = BatchProcessor(settings, fitted, "v1", metrics)
    daemon = Daemon(settings, processor, metrics, bootstrap_servers="x:1")
    member = _Member()
    daemon.consumer = member  # type: ignore[assignment]
    daemon._on_assigned({P0, P1, P2})
    daemon._apply_rebalances()
    processor.process(_faulty(P0, "pump-0", 88) + _faulty(P2, "pump-2", 48), now=200.0)
    daemon._committed.update(member.commits)  # everything scored is committed
    daemon.positions.last_at = -1e18  # a look is due
    daemon._check_positions(idle=True)
    assert _series(metrics, "dhag_consumer_lag_records", "partition") == {"0": 0.0, "1": 0.0, "2": 40.0}
    assert _series(metrics, "dhag_asset_anomalous", "asset") == {"pump-0": 1.0, "pump-2": 1.0}
    assert {("in", 0), ("in", 2)} <= set(processor.trackers)
    return daemon, member, metrics


def _recreated_and_rebalanced(daemon: Daemon, member: _Member, *, lost: bool = False) -> None:
    member.recreated(2)
    daemon._on_revoked({P0, P1, P2}, lost=lost)  # the leader's rejoin: everything revoked first
    daemon._apply_rebalances()
    member.held = {P0, P1}
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()


def test_a_partition_the_recreated_topic_no_longer_has_leaves_no_state_or_series(fitted) -> None:
    daemon, member, metrics = _daemon(fitted)
    _recreated_and_rebalanced(daemon, member)
    assert ("in", 2) not in daemon.processor.trackers
    assert "2" not in _series(metrics, "dhag_consumer_lag_records", "partition")
    assert "pump-2" not in _series(metrics, "dhag_asset_anomalous", "asset")
    assert metrics.registry.get_sample_value("dhag_assigned_partitions") == 2
    daemon.positions.last_at = -1e18
    daemon._check_positions(idle=True)  # the next look: the new logs' lag
    assert _series(metrics, "dhag_consumer_lag_records", "partition") == {"0": 3.0, "1": 3.0}


def test_the_partitions_the_recreated_topic_has_again_start_afresh(fitted) -> None:
    # Their offsets are gone with the old topic: what this daemon scored there is not on the new one.
    daemon, member, metrics = _daemon(fitted)
    _recreated_and_rebalanced(daemon, member)
    assert ("in", 0) not in daemon.processor.trackers
    assert _series(metrics, "dhag_asset_anomalous", "asset") == {}


def test_partitions_lost_to_the_recreation_leave_nothing_either(fitted) -> None:
    daemon, member, metrics = _daemon(fitted)
    _recreated_and_rebalanced(daemon, member, lost=True)
    assert not {("in", 0), ("in", 2)} & set(daemon.processor.trackers)
    assert _series(metrics, "dhag_asset_anomalous", "asset") == {}
    assert set(_series(metrics, "dhag_consumer_lag_records", "partition")) <= {"0", "1"}
