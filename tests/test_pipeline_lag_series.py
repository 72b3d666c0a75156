"""``dhag_consumer_lag_records`` names only the partitions the daemon holds: a partition that went to
another member loses its series, also when the group's answer came a poll after the revoke (a join
waits for every member, often longer than one poll)."""

from __future__ import annotations

from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

P0, P1 = TopicPartition("in", 0), TopicPartition("in", 1)


class _Member:
    """A group member: until the group answers a revoke, assignment() names what it held (eager)."""

    def __init__(self) -> None:
        self.held = {P0, P1}
        self.ends = {P0: 10, P1: 50}
        self.commits: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return 10 if tp == P0 else 5  # P1: 45 records waiting

    def highwater(self, tp: TopicPartition) -> int:
        return self.ends[tp]

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.commits.get(tp)

    def commit_async(self, offsets: dict) -> None:
        self.commits.update({tp: meta.offset for tp, meta in offsets.items()})


def _lags(metrics: PipelineMetrics) -> dict[str, float]:
    return {
        s.labels["partition"]: s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == "dhag_consumer_lag_records"
    }


def _daemon(fitted) -> tuple[Daemon, _Member, PipelineMetrics]:  # noqa: ANN001 - the fitted model
    settings = Settings.model_validate(
        {"kafka": {"topics": {"input": "in"}}, "alerts": {"carry_over_s": None}}
    )
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    member = _Member()
    daemon.consumer = member  # type: ignore[assignment]
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()
    daemon._committed[P0] = member.commits[P0] = 10  # P0 read and committed; nothing of P1 processed
    daemon.positions.last_at = -1e18  # a look is due: it reports the lag of both partitions
    daemon._check_positions(idle=True)
    assert _lags(metrics) == {"0": 0.0, "1": 45.0}
    return daemon, member, metrics


def test_a_partition_that_went_to_another_member_after_a_long_join_loses_its_lag_series(fitted) -> None:
    # Before, a partition dropped at the revoke (nothing of it committed here, or its last commit
    # refused) kept its series when the group's answer came at a later poll: it was still named by
    # assignment() at the revoke and no longer this daemon's at the answer, so nothing removed it, and
    # its last lag stayed exported (and summed per topic) for the life of the process.
    daemon, member, metrics = _daemon(fitted)
    daemon._on_revoked({P0, P1}, lost=False)  # an eager rebalance: everything revoked first
    daemon._apply_rebalances()  # the poll ended before the group answered
    member.held = {P0}
    daemon._on_assigned({P0})
    daemon._apply_rebalances()
    assert _lags(metrics) == {"0": 0.0}


def test_a_partition_that_comes_back_after_a_long_join_keeps_its_lag_series(fitted) -> None:
    daemon, _, metrics = _daemon(fitted)
    daemon._on_revoked({P0, P1}, lost=False)
    daemon._apply_rebalances()
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()
    assert _lags(metrics) == {"0": 0.0, "1": 45.0}
