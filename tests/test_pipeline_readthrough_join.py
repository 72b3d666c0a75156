"""Silence while the daemon reads nothing for reasons of its own: a look that was not made (a join
under way holds the stall clock, so no look falls due) is no failed look, and no asset is judged
silent on readings that wait unread meanwhile (a join longer than ``alerts.quiet_s``, still within
the join's limit of :func:`pipeline.stalls.join_limit_s`)."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError
from test_pipeline_backlog_silence import P0, P1, _Rig


def _join_pending_after_a_failed_look(rig: _Rig, monkeypatch, *, fail: bool) -> None:
    """The next look fails (when ``fail``); at the poll after it, the group revokes every partition and
    its answer does not come: polls return nothing while the plant keeps writing."""
    answer, poll = rig.member.end_offsets, rig.member.poll
    joining: list[bool] = []

    def unanswered(partitions, timeout_ms):
        if not joining:
            joining.append(True)
        if fail:
            raise KafkaTimeoutError("Failed to get offsets by timestamps")
        return answer(partitions, timeout_ms)

    def polled(timeout_ms: int, max_records: int) -> dict:
        if not joining:
            return poll(timeout_ms=timeout_ms, max_records=max_records)
        if len(joining) == 1:
            joining.append(True)
            rig.daemon._on_revoked(set(rig.member.held), lost=False)
        rig.clock[0] += 1.0
        rig._plant(rig.clock[0])
        return {}

    monkeypatch.setattr(rig.member, "end_offsets", unanswered)
    monkeypatch.setattr(rig.member, "poll", polled)


def _rig(fitted, monkeypatch, *, fail: bool) -> _Rig:
    # A join may last twice max_poll_interval_ms and a request before it gets a new consumer
    # (pipeline.stalls): this one lasts longer than quiet_s, and stays within that.
    rig = _Rig(fitted, monkeypatch, kafka={"max_poll_interval_ms": 600_000})
    rig.sends("a", P0, 10.0)
    rig.sends("b", P1, 10.0, over=True)
    rig.run_until(120.0)
    assert [e["state"] for _, e in rig.of("b", "open")] == ["open"]
    _join_pending_after_a_failed_look(rig, monkeypatch, fail=fail)
    return rig


def test_a_join_that_does_not_end_judges_no_asset_silent(fitted, monkeypatch):
    rig = _rig(fitted, monkeypatch, fail=False)
    rig.run_until(120.0 + 700.0)
    assert rig.of("b", "resolved") == [] and rig.forgotten == {}


def test_a_join_after_one_failed_look_judges_no_asset_silent_either(fitted, monkeypatch):
    # One look got no answer, then a rebalance began and its join did not end: no look fell due while
    # it lasted, and quiet_s after the failed look every partition was judged at the present, though
    # not one record was read: the open episode of "b" resolved as silence, "a" was forgotten.
    rig = _rig(fitted, monkeypatch, fail=True)
    rig.run_until(120.0 + 700.0)
    assert rig.daemon.stall_clock.holds("rebalance")
    assert rig.of("b", "resolved") == [], "an asset whose readings wait unread was judged silent"
    assert rig.forgotten == {}


def test_a_partition_revoked_and_gone_keeps_no_read_through_time_from_a_look_during_the_join(
    fitted, monkeypatch
):
    # A look already due when the revoke came was still made during the join, on the assignment
    # kafka-python names until the group answers: it noted a read-through time for partition 1 after
    # it was forgotten, and the partition, back here later, was judged on it instead of starting
    # unknown (and a stall could be judged on partitions no longer this consumer's).
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 10.0)
    rig.run_until(5.0)
    daemon = rig.daemon
    daemon._stop.clear()
    rig.clock[0] += 2 * rig.period_s  # a look is due (a long batch): the revoke comes after that
    daemon._on_revoked({P1}, lost=True)  # partition 1's alert state starts fresh
    daemon._apply_rebalances()
    daemon._check_positions(idle=True)
    assert daemon.read_through.until(P1, daemon.clock()) == float("-inf")
    rig.member.held = {P0}
    daemon._on_assigned({P0})
    daemon._apply_rebalances()
    assert daemon.read_through.until(P1, daemon.clock()) == float("-inf")
