"""Held counts (pipeline.heldcounts): what a batch counts reaches the metrics once, when delivered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.heldcounts import HeldCounts

# An operation: open a savepoint, add an amount, or end the innermost savepoint (rolled back or kept).
_ops = st.lists(
    st.one_of(
        st.just(("savepoint", 0)),
        st.tuples(st.just("add"), st.integers(1, 9)),
        st.just(("rollback", 0)),
        st.just(("release", 0)),
    ),
    max_size=60,
)


@given(_ops)
def test_held_counts_apply_exactly_what_every_enclosing_savepoint_kept(ops: list[tuple[str, int]]) -> None:
    counts, applied = HeldCounts(), []
    points: list[int] = []
    levels: list[list[int]] = []  # the reference: per open savepoint, what was added inside it
    expected: list[int] = []
    for op, amount in ops:
        if op == "savepoint":
            points.append(counts.savepoint())
            levels.append([])
        elif op == "add":
            counts.add(applied.append, amount)
            (levels[-1] if levels else expected).append(amount)
        elif points:
            point, kept = points.pop(), levels.pop()
            if op == "rollback":
                counts.rollback(point)
            else:
                counts.release(point)
                (levels[-1] if levels else expected).extend(kept)
        assert applied == expected  # nothing reaches the metrics before the outermost release
    while points:  # a batch delivered at last: every open savepoint kept
        counts.release(points.pop())
        kept = levels.pop()
        (levels[-1] if levels else expected).extend(kept)
    assert applied == expected


def test_a_rollback_of_an_outer_savepoint_ends_the_inner_ones_too() -> None:
    # The daemon's rollback after an exception the poison guard let through (KeyboardInterrupt) must
    # leave no savepoint open, or every later count would be held for ever.
    counts, applied = HeldCounts(), []
    outer = counts.savepoint()
    counts.add(applied.append, 1)
    counts.savepoint()
    counts.add(applied.append, 2)
    counts.rollback(outer)
    counts.add(applied.append, 3)
    assert applied == [3]
