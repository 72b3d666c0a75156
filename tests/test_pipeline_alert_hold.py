"""``alerts.resolve_hold_s``: an open alert resolves only once ``resolve_after`` normal scores came in a
row and that many seconds of record time passed since its last high score, so that one stuck sensor,
saturated and normal-looking by turns, is one alert and not several."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.alerts import AlertTracker, Transition
from pipeline.config import AlertSettings
from pipeline.retrain.openepisodes import ended_at


def _tracker(hold: float, *, resolve_after: int = 2, quiet_s: float = 600.0) -> AlertTracker:
    return AlertTracker(
        open_after=1, window=1, resolve_after=resolve_after, quiet_s=quiet_s, resolve_hold_s=hold
    )


def _feed(tracker: AlertTracker, readings: list[tuple[float, bool]]) -> list[tuple[str, float]]:
    """``(kind, ts)`` of every transition, a reading at ``now = ts``."""
    out = []
    for n, (ts, over) in enumerate(readings):
        transition = tracker.observe("p1", over, 0.9 if over else 0.1, ts, now=ts, seed=f"in/0/{n}")
        if transition is not None:
            out.append((transition.kind, transition.ts))
    return out


def test_it_resolves_at_the_hold_boundary_not_before() -> None:
    tracker = _tracker(10.0)
    # Opened at 0; two normal scores are enough from 2 on, but the hold runs to 10.
    assert _feed(tracker, [(0.0, True)] + [(float(t), False) for t in range(1, 10)]) == [("open", 0.0)]
    assert tracker.is_open("p1")
    assert _feed(tracker, [(10.0, False)]) == [("resolved", 10.0)]


def test_the_hold_does_without_the_normal_scores_in_a_row() -> None:
    tracker = _tracker(10.0, resolve_after=3)
    # 12 s after the last high score, but only two normal scores since it.
    assert _feed(tracker, [(0.0, True), (10.0, True), (21.0, False), (22.0, False)]) == [("open", 0.0)]
    assert _feed(tracker, [(23.0, False)]) == [("resolved", 23.0)]


def test_a_high_score_during_the_hold_starts_it_again() -> None:
    tracker = _tracker(10.0)
    calm = [(float(t), False) for t in range(1, 6)]
    later = [(float(t), False) for t in range(7, 16)]
    # The stuck sensor reads high at 0 and again at 6: one alert, resolved 10 s after the second.
    assert _feed(tracker, [(0.0, True), *calm, (6.0, True), *later]) == [("open", 0.0)]
    assert _feed(tracker, [(16.0, False)]) == [("resolved", 16.0)]


def test_without_a_hold_the_normal_scores_in_a_row_alone_resolve_as_before() -> None:
    # The stuck sensor's alert resolves between two high stretches and opens again: three alerts.
    stuck = [(float(t), t % 20 < 5) for t in range(60)]
    assert [k for k, _ in _feed(_tracker(0.0, resolve_after=10), stuck)] == ["open", "resolved"] * 3
    assert [k for k, _ in _feed(_tracker(30.0, resolve_after=10), stuck)] == ["open"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-50, 50), st.booleans()), min_size=1, max_size=60),
    st.integers(1, 4),
)
def test_a_hold_of_0_resolves_on_the_count_alone_whatever_the_times(
    readings: list[tuple[int, bool]], resolve_after: int
) -> None:
    # Times out of order, repeated, stepping back: only the count of normal scores in a row decides, as
    # it did before the hold (every reading's values differ, so none is left out as a repeat).
    tracker = _tracker(0.0, resolve_after=resolve_after)
    expected, found, is_open, run = [], [], False, 0
    for n, (ts, over) in enumerate(readings):
        run = 0 if over else run + 1
        if not is_open and over:
            is_open, run = True, 0
            expected.append(("open", n))
        elif is_open and run >= resolve_after:
            is_open, run = False, 0
            expected.append(("resolved", n))
        score = 0.9 if over else 0.1
        transition = tracker.observe("p1", over, score, float(ts), now=0.0, seed=str(n), values={"a": n})
        if transition is not None:
            found.append((transition.kind, n))
    assert found == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 30), st.booleans()), min_size=1, max_size=80),
    st.sampled_from([0.0, 5.0, 30.0, 90.0]),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_the_retrainer_ends_an_open_episode_where_the_daemon_resolves_it(
    steps: list[tuple[int, bool]], hold: float, open_after: int, resolve_after: int
) -> None:
    alerts = AlertSettings(open_after=open_after, window=3, resolve_after=resolve_after, resolve_hold_s=hold)
    hysteresis = alerts.model_dump(include={"open_after", "window", "resolve_after", "resolve_hold_s"})
    tracker = AlertTracker(**hysteresis, quiet_s=1e9)
    for n in range(open_after):  # the episode opens at `start` on open_after high scores
        tracker.observe("p1", True, 0.9, n / 1000, now=0.0, seed=str(n))
    start = (open_after - 1) / 1000
    assert tracker.is_open("p1")
    # The same readings after it (in order, 1 to 30 s apart), through both rules.
    times = np.cumsum([float(dt) for dt, _ in steps]) + start
    over = np.array([o for _, o in steps], dtype=bool)
    resolved_end = None
    for i, (t, flagged) in enumerate(zip(times.tolist(), over.tolist(), strict=True)):
        transition = tracker.observe("p1", flagged, 0.9 if flagged else 0.1, t, now=0.0, seed=f"r{i}")
        if transition is not None and transition.kind == "resolved":  # its last reading over
            resolved_end = max([start, *times[: i + 1][over[: i + 1]].tolist()])
        end = ended_at(times[: i + 1], over[: i + 1], alerts, start=start)
        assert (end is None) == tracker.is_open("p1")
        assert end == (None if tracker.is_open("p1") else resolved_end)


def test_an_episode_carried_over_holds_from_its_first_reading_here() -> None:
    tracker = _tracker(300.0)
    # Opened at 5 by the daemon before a restart; the new owner cannot know its last high score.
    assert tracker.adopt(Transition("open", "a9", "p1", 5.0, 5.0, 0.9, None, source="in/0/7"), now=0.0)
    calm = [(1000.0 + 2 * i, False) for i in range(150)]  # normal from 1000 to 1298
    assert _feed(tracker, calm) == []
    resolved = tracker.observe("p1", False, 0.1, 1300.0, now=1300.0, seed="in/0/9000")
    assert resolved is not None and (resolved.alert_id, resolved.ts) == ("a9", 1300.0)


def test_readings_dated_earlier_neither_shorten_nor_stretch_the_hold() -> None:
    tracker = _tracker(10.0)
    _feed(tracker, [(100.0, True), (105.0, False)])
    # A gateway back-fills readings of an hour before, normal ones then a high one: no time passed.
    assert _feed(tracker, [(3600.0 * -1 + 100 + t, False) for t in range(20)]) == []
    assert _feed(tracker, [(50.0, True), (106.0, False), (107.0, False)]) == []
    assert _feed(tracker, [(110.0, False)]) == [("resolved", 110.0)]


def test_a_clock_stepped_back_resolves_after_the_quiet_time_not_never() -> None:
    tracker = _tracker(300.0, quiet_s=300.0)
    tracker.observe("p1", True, 0.9, 10_000.0, now=0.0, seed="0")
    # The device's clock is reset: its readings, normal now, are dated hours before its high one.
    for n in range(1, 150):
        assert tracker.observe("p1", False, 0.1, float(n), now=2.0 * n, seed=str(n)) is None
    assert tracker.sweep(now=299.0) == []
    (resolved,) = tracker.sweep(now=300.0)
    assert resolved.resolved_by == "quiet_time"


def test_a_silent_asset_still_resolves_after_quiet_s_whatever_the_hold() -> None:
    tracker = _tracker(3600.0, quiet_s=60.0)
    tracker.observe("p1", True, 0.9, 0.0, now=0.0, seed="0")
    assert tracker.sweep(now=59.0) == []
    assert [t.resolved_by for t in tracker.sweep(now=60.0)] == ["silence"]


def test_a_high_score_undone_by_a_savepoint_leaves_the_hold_where_it_was() -> None:
    tracker = _tracker(10.0)
    _feed(tracker, [(0.0, True), (1.0, False)])
    point = tracker.savepoint()
    _feed(tracker, [(5.0, True)])
    tracker.rollback(point)  # the batch is processed again after its output failed
    assert _feed(tracker, [(9.0, False)]) == []
    assert _feed(tracker, [(10.0, False)]) == [("resolved", 10.0)]


@pytest.mark.parametrize("hold", [-1.0, float("inf"), float("nan")])
def test_the_tracker_refuses_a_hold_it_could_not_keep(hold: float) -> None:
    with pytest.raises(ValueError, match="resolve_hold_s"):
        _tracker(hold)
