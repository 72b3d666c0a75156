"""Hysteresis of the per-asset alert state (unit + property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.alerts import AlertTracker


def _run(tracker: AlertTracker, overs: list[bool]) -> list[tuple[int, str, str]]:
    out = []
    for t, over in enumerate(overs):
        tr = tracker.observe("a", over, 0.9 if over else 0.1, float(t), now=float(t), seed=str(t), index=t)
        if tr is not None:
            out.append((t, tr.kind, tr.alert_id))
    return out


params = st.integers(1, 6).flatmap(lambda m: st.tuples(st.integers(1, m), st.just(m), st.integers(1, 6)))


@given(params, st.lists(st.booleans(), max_size=120))
def test_hysteresis_matches_its_definition(nmq: tuple[int, int, int], overs: list[bool]) -> None:
    n, m, q = nmq
    events = _run(AlertTracker(open_after=n, window=m, resolve_after=q, quiet_s=1e9), overs)
    kinds = [k for _, k, _ in events]
    assert kinds == ["open", "resolved"] * (len(kinds) // 2) + (["open"] if len(kinds) % 2 else [])
    # Replay the definition: windows restart after each resolution.
    is_open, since, normal_run, expected = False, 0, 0, []
    for t, over in enumerate(overs):
        if not is_open:
            window = overs[max(since, t - m + 1) : t + 1]
            if over and sum(window) >= n:
                is_open, normal_run = True, 0
                expected.append((t, "open"))
        else:
            normal_run = 0 if over else normal_run + 1
            if normal_run >= q:
                is_open, since = False, t + 1
                expected.append((t, "resolved"))
    assert [(t, k) for t, k, _ in events] == expected
    for (_, k1, id1), (_, k2, id2) in zip(events[::2], events[1::2], strict=False):
        assert (k1, k2) == ("open", "resolved") and id1 == id2
    assert len({i for _, k, i in events if k == "open"}) == kinds.count("open")


def test_one_noisy_reading_does_not_open_and_a_long_fault_is_one_alert() -> None:
    tracker = AlertTracker(open_after=3, window=5, resolve_after=4, quiet_s=1e9)
    assert _run(tracker, [False, True, False, False, True, False]) == []
    events = _run(
        AlertTracker(open_after=3, window=5, resolve_after=4, quiet_s=1e9), [True] * 500 + [False] * 4
    )
    assert [(t, k) for t, k, _ in events] == [(2, "open"), (503, "resolved")]


def test_quiet_time_resolves_an_asset_that_went_silent() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=100, quiet_s=30)
    opened = tracker.observe("a", True, 0.9, 5.0, now=100.0, seed="s")
    assert opened is not None and tracker.sweep(now=129.0) == []
    (resolved,) = tracker.sweep(now=130.0)
    assert (resolved.kind, resolved.alert_id, resolved.resolved_by) == (
        "resolved",
        opened.alert_id,
        "silence",  # not one reading for quiet_s: told apart from a quiet time with normal readings
    )
    assert not tracker.is_open("a")


def test_a_slow_asset_whose_readings_stay_under_the_threshold_resolves_by_quiet_time() -> None:
    tracker = AlertTracker(open_after=1, window=1, resolve_after=100, quiet_s=30)
    tracker.observe("a", True, 0.9, 5.0, now=100.0, seed="s")
    for t in (110.0, 120.0, 125.0):  # one reading every few seconds, too few to resolve by count
        assert tracker.observe("a", False, 0.1, t, now=t, seed=f"s{t}") is None
    (resolved,) = tracker.sweep(now=130.0)
    assert resolved.resolved_by == "quiet_time"


def test_alert_ids_depend_on_the_opening_position_only() -> None:
    a = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=10)
    b = AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=10)
    ida = a.observe("x", True, 0.9, 1.0, now=0, seed="topic/0/42").alert_id
    idb = b.observe("x", True, 0.8, 2.0, now=5, seed="topic/0/42").alert_id
    idc = (
        AlertTracker(open_after=1, window=1, resolve_after=1, quiet_s=10)
        .observe("x", True, 0.9, 1.0, now=0, seed="topic/0/43")
        .alert_id
    )
    assert ida == idb != idc


# An operation on a tracker: an asset scoring over or under the threshold at a time step, or a sweep.
_ops = st.lists(
    st.one_of(st.tuples(st.sampled_from("abc"), st.booleans()), st.just(("sweep", False))), max_size=40
)


def _apply(tracker: AlertTracker, ops: list[tuple[str, bool]], t0: int) -> dict[str, list[tuple[str, str]]]:
    """The events, per asset in order: the order a consumer keyed by asset sees (one sweep may resolve
    several assets in another order after a rollback re-inserted them)."""
    events: dict[str, list[tuple[str, str]]] = {}
    for t, (asset, over) in enumerate(ops, start=t0):
        if asset == "sweep":
            found = tracker.sweep(float(t))
        else:
            found = [tracker.observe(asset, over, 0.9 if over else 0.1, float(t), now=float(t), seed=str(t))]
        for tr in found:
            if tr is not None:
                events.setdefault(tr.asset_id, []).append((tr.kind, tr.alert_id))
    return events


@given(_ops, _ops, _ops, st.booleans())
def test_a_rolled_back_batch_yields_the_same_events_when_processed_again(
    before: list, batch: list, inner: list, nested: bool
) -> None:
    # What the daemon relies on: after a batch whose output was not delivered is rolled back, processing
    # it again gives exactly the events of the first attempt, and the state after it is the same.
    def tracker() -> AlertTracker:
        return AlertTracker(open_after=2, window=3, resolve_after=2, quiet_s=5)

    reference, replayed = tracker(), tracker()
    _apply(reference, before, 0)
    _apply(replayed, before, 0)
    expected = _apply(reference, batch + inner, 100)
    point = replayed.savepoint()
    _apply(replayed, batch, 100)
    inner_point = replayed.savepoint() if nested else None  # a record-by-record retry, kept
    _apply(replayed, inner, 100 + len(batch))
    if inner_point is not None:
        replayed.release(inner_point)
    replayed.rollback(point)
    assert _apply(replayed, batch + inner, 100) == expected
    after = _apply(replayed, before, 200)
    assert after == _apply(reference, before, 200)
    assert len(replayed) == len(reference) and not replayed._journal


def test_the_memory_of_a_burst_of_asset_ids_goes_once_they_are_forgotten() -> None:
    # Before, the tracker's table kept the size of the largest fleet it had ever held: after a gateway
    # sent 100,000 made-up ids for a few minutes, a plant of 100 assets kept some 9 MB, and each batch's
    # sweep walked 100,000 empty slots, for the rest of the daemon's run.
    import tracemalloc

    tracker = AlertTracker(open_after=3, window=5, resolve_after=10, quiet_s=300)
    for i in range(100):
        tracker.observe(f"pump-{i}", False, 0.1, 0.0, now=0.0, seed="s")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            tracker.observe(f"made-up-{i}", False, 0.1, 0.0, now=0.0, seed="s")
        for i in range(100):  # the plant sends on; the made-up ids are never sent again
            tracker.observe(f"pump-{i}", False, 0.1, 400.0, now=400.0, seed="s")
        tracker.sweep(now=400.0)
        forgotten = len(tracker.take_forgotten())  # as the processor takes them after each sweep
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(tracker) == 100 and forgotten == 100_000
    assert kept < 1_000_000, kept
