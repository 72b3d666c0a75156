"""The stall timer: progress resets it, neither a rebalance nor a position that cannot be read does,
and a partition gets one grace period when it comes, measured from the group's join completing."""

from __future__ import annotations

import pytest
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.positions import HOLD_OFF_PERIODS
from pipeline.processing import BatchProcessor
from pipeline.stalls import CONFIRM_S

P0, P1 = TopicPartition("sensor-readings", 0), TopicPartition("sensor-readings", 1)
PERIOD_S = Settings().kafka.request_timeout_ms / 1000


class _Consumer:
    """A group member: ``held`` its assignment, ``at`` its positions (None: unknown), ``ends`` the
    broker's end offsets."""

    def __init__(self, held: set[TopicPartition] | None = None) -> None:
        self.held = set(held or ())
        self.at: dict[TopicPartition, int | None] = {P0: 120, P1: 40}
        self.ends = {P0: 500, P1: 40}
        self.closed = False

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in partitions}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # as kafka-python's before a fetch of the partition

    def position(self, tp: TopicPartition, timeout_ms: int) -> int | None:
        return self.at[tp]

    def close(self, autocommit: bool, timeout_ms: int) -> None:
        self.closed = True

    def subscribe(self, topics: list[str], listener: object) -> None:
        pass


class _Rig:
    """A daemon on a fake clock whose consumer replacements are counted."""

    def __init__(self, fitted, monkeypatch) -> None:
        self.now = 50_000.0
        for module in ("pipeline.daemon", "pipeline.rebalance"):
            monkeypatch.setattr(f"{module}.time.monotonic", lambda: self.now)
        settings = Settings()
        metrics = PipelineMetrics(CollectorRegistry())
        self.daemon = Daemon(
            settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
        )
        self.metrics = metrics
        monkeypatch.setattr(self.daemon, "_carry_over", lambda partitions, deadline=None: False)
        self.replaced = 0
        self.next_consumer = _Consumer()
        real_restart = self.daemon._restart_consumer

        def restart() -> None:
            self.replaced += 1
            real_restart()

        monkeypatch.setattr(self.daemon, "_restart_consumer", restart)
        monkeypatch.setattr(self.daemon, "_new_consumer", lambda: self.next_consumer)

    def join(self, consumer: _Consumer, partitions: set[TopicPartition], *, revoke: bool = True) -> None:
        """A rebalance: the partitions held are revoked (unless it is a first join) and ``partitions``
        assigned; the loop applies it."""
        if revoke and consumer.held:
            self.daemon._on_revoked(set(consumer.held), lost=False)
        consumer.held = set(partitions)
        self.daemon._on_assigned(set(partitions))
        self.daemon._apply_rebalances()

    def look(self, *, idle: bool = True) -> None:
        """A look at the positions, once due (an empty poll when ``idle``)."""
        self.daemon._check_positions(idle=idle)


def _started(fitted, monkeypatch, partitions: set[TopicPartition]) -> tuple[_Rig, _Consumer]:
    rig = _Rig(fitted, monkeypatch)
    consumer = _Consumer()
    rig.daemon.consumer = consumer  # type: ignore[assignment]
    rig.join(consumer, partitions, revoke=False)
    return rig, consumer


def test_a_partition_whose_position_stays_unknown_is_judged_stalled(fitted, monkeypatch) -> None:
    # A partition without a position is never fetched; it was left out of every look, so however long
    # it stayed that way, the consumer was never replaced (partition 1 delivering meanwhile).
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    consumer.at[P0] = None
    for _ in range(4):
        rig.now += PERIOD_S
        consumer.at[P1] += 5
        consumer.ends[P1] += 5
        rig.daemon._fetched.add(P1)
        rig.daemon._last_records_at = rig.now
        rig.look(idle=False)
        if rig.replaced:
            break
    assert rig.replaced == 1
    assert rig.metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "stalled"}) == 1


def test_a_position_unknown_only_right_after_an_assignment_is_no_stall(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    consumer.ends[P1] = 400  # records wait on both partitions, and both move
    for look in range(6):
        rig.now += PERIOD_S
        consumer.at[P0] = None if look % 2 == 0 else 120 + 10 * look  # known again by the next look
        consumer.at[P1] += 5
        rig.daemon._fetched.update({P0, P1})
        rig.daemon._last_records_at = rig.now
        rig.look(idle=False)
        rig.join(consumer, {P0, P1})  # and a rebalance resets it again
    assert rig.replaced == 0


def test_a_rebalance_storm_does_not_hold_off_the_stall_timer(fitted, monkeypatch) -> None:
    # Every assignment reset "last fetched", and a look that found a position unknown (reset by the
    # rebalance) forgot how long the partition had stood still: a consumer that never fetched a record
    # through a rebalance every few seconds was never replaced.
    rig, consumer = _started(fitted, monkeypatch, {P0})
    start, looks = rig.now, 0
    while not rig.replaced and rig.now - start < 20 * PERIOD_S:
        rig.now += 7.0
        rig.join(consumer, {P0})
        consumer.at[P0] = None if looks % 2 else 120  # the rebalance reset it; found again, or not yet
        if rig.daemon.positions.due(rig.now):
            rig.daemon.positions.last_at = -1e18
            looks += 1
            rig.look()
    assert rig.replaced == 1 and rig.now - start <= 2 * PERIOD_S


def test_a_partition_newly_assigned_gets_one_grace_period_not_one_per_rebalance(fitted, monkeypatch) -> None:
    # A replica idle for an hour (nothing to fetch) is handed a backlog: not stalled before its first
    # fetch. The grace comes once: partition 0 handed back on every rebalance of a storm gets no more.
    rig, consumer = _started(fitted, monkeypatch, {P1})  # caught up: nothing to fetch for an hour
    rig.now += 3600.0
    rig.look()
    rig.join(consumer, {P0, P1})
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 0, "judged before its first fetch"
    for _ in range(int(PERIOD_S // 5)):
        rig.now += 5.0
        rig.join(consumer, {P0, P1})
        rig.look()
    rig.now += 5.0
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 1


def test_a_partition_back_after_a_period_elsewhere_gets_a_new_grace_period(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    rig.now += 5.0
    rig.join(consumer, {P1})  # partition 0 goes to another replica, for ten minutes
    rig.now += 600.0
    rig.join(consumer, {P0, P1})
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 0


@pytest.mark.parametrize("callback_late", [False, True])
def test_a_new_consumer_after_a_slow_join_gets_its_grace_from_the_join(
    fitted, monkeypatch, callback_late
) -> None:
    # The replacement's join took longer than the stall timer: counted from the replacement, the new
    # consumer was judged stalled on its first look and replaced again, over and over. The group can
    # hand out the assignment before the listener hears of it (``callback_late``).
    rig, consumer = _started(fitted, monkeypatch, {P0})
    rig.now += PERIOD_S + 1
    rig.look()
    rig.now += CONFIRM_S  # (records that waited at the look before)
    rig.look()
    assert rig.replaced == 1 and consumer.closed
    new = rig.next_consumer
    rig.now += 3 * PERIOD_S  # the join is slow
    new.held = {P0}
    if callback_late:  # a look sees the assignment before on_partitions_assigned is called
        rig.daemon.positions.last_at = -1e18
        rig.look()
    rig.daemon._on_assigned({P0})
    rig.daemon._apply_rebalances()
    if not callback_late:  # (a look is due once a period: one look at the join's end in all)
        rig.daemon.positions.last_at = -1e18
        rig.look()
    assert rig.replaced == 1
    rig.now += PERIOD_S - 1
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 1
    rig.now += 2
    rig.daemon.positions.last_at = -1e18
    rig.look()
    # A period held without a fetch: this one is stalled too, but partition 0 stood still through the
    # replacement made for it, so it is judged again once its hold-off (pipeline.positions) is over.
    assert rig.replaced == 1
    rig.now += HOLD_OFF_PERIODS * PERIOD_S - PERIOD_S - 1
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 2


def test_a_record_that_arrives_just_before_a_look_on_a_quiet_partition_is_no_stall(
    fitted, monkeypatch
) -> None:
    # A quiet plant: the last record came ten minutes ago. One arrives between an empty poll and the
    # look that follows it; the look sees it waiting, the position not yet past it and nothing fetched
    # for a period: a healthy consumer was replaced (about once in a few days at a record a minute).
    rig, consumer = _started(fitted, monkeypatch, {P0})
    consumer.ends[P0] = consumer.at[P0]  # caught up
    rig.now += 600.0
    rig.look()
    consumer.ends[P0] += 1  # the record just came
    rig.now += PERIOD_S
    rig.look()
    assert rig.replaced == 0
    consumer.at[P0] += 1  # the next poll returned it
    rig.daemon._fetched.add(P0)
    rig.daemon._last_records_at = rig.now + 0.2
    rig.now += CONFIRM_S  # looked at again this soon
    assert rig.daemon.positions.due(rig.now)
    rig.daemon.positions.last_at = -1e18
    rig.look()
    assert rig.replaced == 0


def test_records_come_just_before_a_look_and_never_fetched_are_a_stall_a_moment_later(
    fitted, monkeypatch
) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0})
    consumer.ends[P0] = consumer.at[P0]
    rig.now += 600.0
    rig.look()
    consumer.ends[P0] += 1
    rig.now += PERIOD_S
    rig.look()
    assert rig.replaced == 0
    rig.now += CONFIRM_S
    rig.look()
    assert rig.replaced == 1


def test_records_waiting_a_whole_period_with_nothing_fetched_are_a_stall(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0})
    consumer.ends[P0] = consumer.at[P0]
    rig.now += 600.0
    rig.look()
    consumer.ends[P0] += 1  # it came, and is never fetched
    for _ in range(3):
        rig.now += PERIOD_S
        rig.look()
    assert rig.replaced == 1


def test_a_position_known_at_caught_up_looks_is_no_longer_counted_unknown(fitted, monkeypatch) -> None:
    # A look that found everything caught up returned before the position timers were looked at: a
    # position unknown at one look (the committed offset not read in time), then known and caught up
    # at every look for hours, still counted as unknown since then, and the first look after a
    # rebalance that found it unknown again (read back from the committed offset) replaced the consumer
    # at once, not a period later.
    rig, consumer = _started(fitted, monkeypatch, {P0})
    rig.now += PERIOD_S  # its grace period over
    consumer.at[P0] = None
    rig.look(idle=False)
    consumer.at[P0] = consumer.ends[P0]  # known, and nothing waits: caught up for a while
    for _ in range(20):
        rig.now += PERIOD_S
        rig.look(idle=False)
    assert rig.replaced == 0 and rig.metrics.caught_up._value.get() > 0
    rig.join(consumer, {P0})  # a rebalance gives it back: its position is read again
    consumer.at[P0] = None
    rig.now += PERIOD_S
    rig.look(idle=False)
    assert rig.replaced == 0
    rig.now += PERIOD_S  # unknown for a whole period: stalled
    rig.look(idle=False)
    assert rig.replaced == 1
