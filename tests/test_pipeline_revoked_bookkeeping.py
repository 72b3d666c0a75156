"""What the daemon keeps per partition goes with a partition that went to another member: an offset it
committed there long ago is not taken for its commit when the partition comes back (no broker needed:
the group member of :mod:`test_pipeline_lag_series`)."""

from __future__ import annotations

from test_pipeline_lag_series import P0, P1, _daemon, _Member

from pipeline.daemon import Daemon


def _moves_away_and_back(daemon: Daemon, member) -> None:  # noqa: ANN001 - the fake group member
    """P0 goes to another member at a rebalance, and comes back at a later one."""
    daemon._on_revoked({P0, P1}, lost=False)
    member.held = {P1}
    daemon._on_assigned({P1})
    daemon._apply_rebalances()
    assert daemon._owned == {P1}
    for kept in (daemon._committed, daemon._held_over, daemon._pending, daemon._owed):
        assert P0 not in kept, kept
    daemon._on_revoked({P1}, lost=False)
    member.held = {P0, P1}
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()


def test_a_partition_back_from_another_member_commits_its_position_below_an_old_commit(fitted) -> None:  # noqa: ANN001
    # Before, the offset this daemon committed on P0 before it left (10) was kept for good: back after
    # the group's offset was set back (another member's rewind, an operator's reset), its position was
    # not committed until it passed 10, and a restart meanwhile scored those records again.
    daemon, member, _ = _daemon(fitted)
    _moves_away_and_back(daemon, member)
    member.position = lambda tp, timeout_ms=None: 7 if tp == P0 else 5  # resumed from the group's 4
    daemon._passed()
    assert daemon._pending.get(P0) == 7


def test_a_partition_lost_leaves_nothing_of_it_behind(fitted) -> None:  # noqa: ANN001
    daemon, member, _ = _daemon(fitted)
    daemon._on_revoked({P0, P1}, lost=True)
    member.held = {P1}
    daemon._on_assigned({P1})
    daemon._apply_rebalances()
    assert P0 not in daemon._committed and daemon._owned == {P1}


def test_a_partition_that_comes_straight_back_keeps_its_commit(fitted) -> None:  # noqa: ANN001
    # Its alert episodes carry on when nobody committed past it: that is judged by this record.
    daemon, member, _ = _daemon(fitted)
    daemon._on_revoked({P0, P1}, lost=False)
    daemon._apply_rebalances()  # the group has not answered yet
    assert daemon._committed[P0] == 10
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()
    assert daemon._committed[P0] == 10 and P0 in daemon._owned


def test_a_consumer_replaced_again_before_its_join_ended_still_checks_the_partitions_held_over(
    fitted,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    # A stalled consumer is replaced; the new one's join outlives the limit and it is replaced too,
    # before the group gave it anything. Meanwhile another member scored P0 past this daemon's commit.
    # Before, the second replacement held over what its own consumer held (nothing), so P0's alert
    # state was kept at the last assignment without its committed offset being looked at.
    daemon, first, _ = _daemon(fitted)
    joining = _Member()
    joining.held = set()  # its join never ended: the group gave it nothing
    last = _Member()
    last.commits[P0] = 25  # another member committed past the 10 this daemon left P0 at
    new = iter([joining, last])
    monkeypatch.setattr(daemon, "_new_consumer", lambda: next(new))
    monkeypatch.setattr(daemon, "_subscribe", lambda: None)
    for member in (first, joining):
        member.close = lambda autocommit, timeout_ms: None  # type: ignore[attr-defined]
    daemon._restart_consumer()  # the stalled consumer
    daemon._apply_rebalances()
    daemon._restart_consumer()  # the join that did not end
    daemon._apply_rebalances()
    daemon._on_assigned({P0, P1})
    daemon._apply_rebalances()
    assert P0 not in daemon._committed  # moved on elsewhere: its alert state starts afresh
