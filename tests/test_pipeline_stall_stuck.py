"""One partition stuck beside busy ones: replaced once the records fetched ahead of it have been read
(and it still stands), and after a replacement that did not help, judged again only after a hold-off
that doubles up to a cap."""

from __future__ import annotations

import logging
import types

import pytest
from kafka import TopicPartition
from test_pipeline_stall_timer import P0, P1, PERIOD_S, _Consumer, _Rig, _started

from pipeline.positions import HOLD_OFF_MAX, HOLD_OFF_PERIODS

HOLD_OFF_S = HOLD_OFF_PERIODS * PERIOD_S
# Partition 1 is read 50 records a period with 200 waiting: a grace period, a period standing before
# the note, four to read past it, one more.
DETECT_S = 7 * PERIOD_S
P2 = TopicPartition(P0.topic, 2)


def _busy_beside_stuck(rig: _Rig, consumer: _Consumer, *, backlog: bool = False) -> None:
    """A period on: partition 1 is read on (200 records keep waiting on it; ``backlog``: a fixed end far
    ahead), partition 0 stands still with 380 records waiting; the look that follows a batch."""
    rig.now += PERIOD_S
    consumer.at[P1] += 50
    consumer.ends[P1] = 1_000_000 if backlog else consumer.at[P1] + 200
    rig.daemon._fetched.add(P1)
    rig.daemon._last_records_at = rig.now
    rig.look(idle=False)


def _replacements(rig: _Rig, consumer: _Consumer, periods: int) -> list[float]:
    """Run ``periods`` periods; the stall-clock times of the replacements. The new consumer is the same
    fake (the broker still does not serve partition 0), handed both partitions by the group."""
    rig.next_consumer = consumer
    times = []
    for _ in range(periods):
        before = rig.replaced
        _busy_beside_stuck(rig, consumer)
        if rig.replaced != before:
            times.append(rig.daemon.stall_clock())
            rig.join(consumer, {P0, P1}, revoke=False)
    return times


def test_a_partition_stuck_beside_a_busy_one_gets_a_new_consumer(fitted, monkeypatch, caplog) -> None:
    # Partition 1 moved at every look, so "no partition with records waiting moved" never held: the
    # consumer kept partition 0's 380 records waiting for as long as the daemon ran.
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    start = rig.daemon.stall_clock()
    with caplog.at_level(logging.ERROR, logger="pipeline.daemon"):
        times = _replacements(rig, consumer, 12)
    assert len(times) == 1 and times[0] - start == DETECT_S
    sample = rig.metrics.registry.get_sample_value
    assert sample("dhag_broker_failures_total", {"operation": "stalled"}) == 1
    (line,) = [r.getMessage() for r in caplog.records if "replacing" in r.getMessage()]
    assert "partitions [0]" in line and "380 records" in line and "judged again after 300s" in line


def test_a_partition_waiting_behind_a_long_backlog_of_another_is_no_stall(fitted, monkeypatch) -> None:
    # kafka-python hands out partition 1's fetched backlog first: partition 0 waits for as long as that
    # takes (here 20 minutes), and its turn comes after.
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    for _ in range(40):
        _busy_beside_stuck(rig, consumer, backlog=True)
    assert rig.replaced == 0


def test_a_partition_whose_turn_comes_once_the_others_are_read_past_is_no_stall(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    for _ in range(4):
        for _ in range(6):  # read past the end noted for partition 1: partition 0's turn
            _busy_beside_stuck(rig, consumer)
        consumer.at[P0] += 100
        consumer.ends[P0] += 100
    assert rig.replaced == 0


def test_a_partition_that_stays_stuck_through_replacements_is_retried_ever_less_often(
    fitted, monkeypatch
) -> None:
    # A broker-side cause (a leader that answers for its end offsets and never for fetches): a new
    # consumer every few periods would rebalance the whole group for as long as it lasts.
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    times = _replacements(rig, consumer, 40 * HOLD_OFF_PERIODS)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 5
    for n, gap in enumerate(gaps):
        hold_off = min(2**n, HOLD_OFF_MAX) * HOLD_OFF_S
        assert hold_off <= gap <= hold_off + PERIOD_S, (n, gaps)
    assert gaps[-1] == HOLD_OFF_MAX * HOLD_OFF_S


def test_a_replacement_that_helped_resets_the_hold_off(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    (first,) = _replacements(rig, consumer, 9)
    _busy_beside_stuck(rig, consumer)
    consumer.at[P0] += 30  # the new consumer fetches partition 0 again
    rig.daemon._fetched.add(P0)
    _busy_beside_stuck(rig, consumer)
    stuck_from = rig.daemon.stall_clock()  # then it sticks again, on another fault
    (again,) = _replacements(rig, consumer, 9)
    assert again - stuck_from == DETECT_S - PERIOD_S < HOLD_OFF_S  # no grace this time, no hold-off


def test_a_rebalance_storm_does_not_reset_the_stuck_timer(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    start = rig.daemon.stall_clock()
    for _ in range(12):
        rig.daemon._on_revoked({P0, P1}, lost=False)  # handed straight back, each period
        rig.now += 20.0  # (the join's time is not counted)
        rig.daemon._on_assigned({P0, P1})
        rig.daemon._apply_rebalances()
        _busy_beside_stuck(rig, consumer)
        if rig.replaced:
            break
    assert rig.replaced == 1 and rig.daemon.stall_clock() - start == DETECT_S


def test_a_stuck_partition_revoked_is_not_judged_and_starts_afresh_when_it_comes_back(
    fitted, monkeypatch
) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    for _ in range(5):
        _busy_beside_stuck(rig, consumer)
    rig.join(consumer, {P1})  # partition 0 goes to another replica for a while
    for _ in range(5):
        _busy_beside_stuck(rig, consumer)
    rig.join(consumer, {P0, P1})  # back: a grace period and a fresh timer
    for _ in range(6):
        _busy_beside_stuck(rig, consumer)
    assert rig.replaced == 0
    _busy_beside_stuck(rig, consumer)
    assert rig.replaced == 1


def test_a_partition_stuck_while_another_read_beside_it_goes_elsewhere_is_still_judged(
    fitted, monkeypatch
) -> None:
    # Partition 2 was read on beside the stuck partition 0 when a rebalance gave it to another member:
    # the end noted for it was never read past here, nor did it stand still, so partition 0 was never
    # judged stuck, partition 1 read on meanwhile (the rule for all standing still never held).
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    consumer.at[P2], consumer.ends[P2] = 0, 200
    rig.join(consumer, {P0, P1, P2})
    rig.now += PERIOD_S  # its grace period over
    for _ in range(3):
        consumer.at[P2] += 50
        consumer.ends[P2] = consumer.at[P2] + 200
        rig.daemon._fetched.add(P2)
        _busy_beside_stuck(rig, consumer)
    rig.join(consumer, {P0, P1})  # partition 2 goes to a new member, for good
    for _ in range(12):
        _busy_beside_stuck(rig, consumer)
        if rig.replaced:
            break
    assert rig.replaced == 1


def test_a_replacement_after_which_the_partition_caught_up_resets_the_hold_off(fitted, monkeypatch) -> None:
    # The new consumer read partition 0 to its end before its first look: the replacement helped, but
    # partition 0 was still taken for one that stood through it, so a stall on a new fault later on
    # got twice the hold-off (and each one after that twice again, up to the cap).
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    (first,) = _replacements(rig, consumer, int(DETECT_S // PERIOD_S))
    consumer.at[P0] = consumer.ends[P0]  # the new consumer reads partition 0's records
    rig.daemon._fetched.add(P0)
    for _ in range(4 * HOLD_OFF_PERIODS):
        _busy_beside_stuck(rig, consumer)
    consumer.ends[P0] += 380  # then it sticks again, on another fault
    times = _replacements(rig, consumer, 3 * HOLD_OFF_PERIODS)
    assert len(times) >= 2
    assert HOLD_OFF_S <= times[1] - times[0] <= HOLD_OFF_S + PERIOD_S  # the first hold-off, not the second


@pytest.mark.parametrize("polled", [True, False], ids=["read", "records deleted"])
def test_a_partition_at_its_end_after_a_replacement_is_no_longer_held_off(
    fitted, monkeypatch, polled
) -> None:
    # The daemon's only partition stood still, and then nothing waited on it any more: the look that
    # found everything caught up returned before any timer was looked at, so the partition stayed one
    # that "stood still through its replacement", and when it stuck again, on a new fault, it waited
    # out the hold-off (ten periods) first. Only records polled before that look, which counted as
    # progress at every look after it however long ago they came, hid it; records deleted by retention
    # (the position reset to the end, nothing polled) did not.
    rig, consumer = _started(fitted, monkeypatch, {P0})
    rig.next_consumer = consumer
    for _ in range(6):  # partition 0 never moves, 380 records waiting
        rig.now += PERIOD_S
        rig.look(idle=False)
        if rig.replaced:
            break
    assert rig.replaced == 1
    rig.join(consumer, {P0}, revoke=False)
    for _ in range(2):  # the new consumer reads partition 0 to its end, or it is emptied
        rig.now += PERIOD_S
        consumer.at[P0] = consumer.ends[P0]
        if polled:
            rig.daemon._fetched.add(P0)
        rig.look(idle=False)
    stuck_from = rig.daemon.stall_clock()
    consumer.ends[P0] += 200  # then it sticks again, on another fault
    for _ in range(HOLD_OFF_PERIODS):
        rig.now += PERIOD_S
        rig.look(idle=False)
        if rig.replaced > 1:
            break
    assert rig.replaced == 2 and rig.daemon.stall_clock() - stuck_from == 3 * PERIOD_S


@pytest.mark.parametrize("read_on", [True, False], ids=["read on", "standing"])
def test_a_partition_stuck_beside_one_whose_leader_is_gone_is_still_judged(
    fitted, monkeypatch, read_on
) -> None:
    # Partition 2 was read on beside the stuck partition 0 when its leader went missing from the
    # metadata: no end offset for it at any look, so the end noted for it was never struck off (nor was
    # it seen standing), and partition 0 was not judged for as long as that lasted, partition 1 read
    # past its own end meanwhile. Its position here still says whether it was read past that end, or
    # stood still.
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    leaders = {P0: 0, P1: 0, P2: 0}
    cluster = types.SimpleNamespace(leader_for_partition=lambda tp: leaders[tp])
    consumer._client = types.SimpleNamespace(cluster=cluster)  # type: ignore[attr-defined]
    consumer.at[P2], consumer.ends[P2] = 0, 200
    rig.join(consumer, {P0, P1, P2})
    rig.now += PERIOD_S  # its grace period over
    for _ in range(3):  # partition 0 noted standing, partitions 1 and 2 read on beside it
        consumer.at[P2] += 50
        consumer.ends[P2] = consumer.at[P2] + 200
        rig.daemon._fetched.add(P2)
        _busy_beside_stuck(rig, consumer)
    leaders[P2] = -1  # its leader gone: no end offset for it from now on
    for _ in range(12):
        if read_on:  # the records fetched for it before are handed out
            consumer.at[P2] += 50
            rig.daemon._fetched.add(P2)
        _busy_beside_stuck(rig, consumer)
        if rig.replaced:
            break
    assert rig.replaced == 1
