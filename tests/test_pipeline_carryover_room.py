"""Open episodes carried over at a start or a partition move are held within ``alerts.max_assets`` as the
rest of the alert state is: after a flood of made-up asset ids opened episodes (with more than one replica,
or a cap lowered, or a carry-over read that failed and left the older ones open on the topic), a restart
must not hold them all and refuse every real asset alert state until they resolve. The newest opened are
carried on first, idle assets are evicted for them, and those left over are counted as refused."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from pipeline.alerts import Transition
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


def _episode(i: int, partition: int = 0) -> Transition:
    return Transition(
        "open", f"a{i}", f"made-up-{i}", float(i), float(i), 0.9, None, source=f"in/{partition}/{i}"
    )


def _processor(fitted, max_assets: int) -> tuple[BatchProcessor, CollectorRegistry]:
    alerts = {"max_assets": max_assets, "open_after": 1, "window": 1, "resolve_after": 1}
    settings = Settings.model_validate({"alerts": alerts})
    registry = CollectorRegistry()
    return BatchProcessor(settings, fitted, "v1", PipelineMetrics(registry)), registry


def _held(proc: BatchProcessor) -> int:
    return sum(len(tracker) for tracker in proc.trackers.values())


def test_episodes_carried_over_beyond_the_cap_are_refused_and_counted(fitted, caplog) -> None:
    proc, registry = _processor(fitted, max_assets=10)
    episodes = [_episode(i) for i in range(25)]
    with caplog.at_level(logging.WARNING):
        assert proc.carry_over(("in", 0), episodes, 100.0, {}) == 10
    assert _held(proc) == 10
    tracker = proc.trackers[("in", 0)]
    assert sorted(tracker._assets) == sorted(f"made-up-{i}" for i in range(15, 25))  # the newest opened
    assert registry.get_sample_value("dhag_alert_states_refused_total") == 15
    assert registry.get_sample_value("dhag_alert_states_evicted_total") == 0
    assert "15 open alert episode(s) not carried on" in caplog.text


def test_a_restart_onto_several_partitions_holds_no_more_than_the_cap(fitted) -> None:
    proc, registry = _processor(fitted, max_assets=10)
    carried = sum(
        proc.carry_over(("in", p), [_episode(100 * p + i, p) for i in range(8)], 100.0, {}) for p in range(3)
    )
    assert carried == _held(proc) == 10
    assert registry.get_sample_value("dhag_alert_states_refused_total") == 14


def test_idle_assets_make_room_for_carried_episodes_and_open_ones_stay(fitted) -> None:
    proc, registry = _processor(fitted, max_assets=4)
    tracker = proc.trackers.of(("in", 0))
    assert tracker.observe("faulty", True, 0.9, 0.0, now=0.0, seed="in/0/1").kind == "open"
    for i, asset in enumerate(("quiet-1", "quiet-2", "quiet-3")):
        tracker.observe(asset, False, 0.1, 1.0, now=1.0 + i, seed=f"in/0/{2 + i}")
    assert proc.carry_over(("in", 1), [_episode(i, 1) for i in range(5)], 100.0, {}) == 3
    assert tracker.is_open("faulty") and _held(proc) == 4
    assert registry.get_sample_value("dhag_alert_states_evicted_total") == 3
    assert registry.get_sample_value("dhag_alert_states_refused_total") == 2


def test_the_marks_of_resolved_episodes_stay_within_the_cap(fitted) -> None:
    # A week of made-up ids' episodes, opened and resolved: each asset's resolved episode is remembered
    # (its records met again after a crash open nothing), but only as alert state within the cap.
    proc, registry = _processor(fitted, max_assets=100)
    replayed = {f"made-up-{i}": (i, float(i)) for i in range(5000)}
    assert proc.carry_over(("in", 0), [_episode(9000)], 100.0, replayed) == 1
    assert _held(proc) <= 100 and proc.trackers[("in", 0)].is_open("made-up-9000")
    assert registry.get_sample_value("dhag_alert_states_evicted_total") == 5001 - _held(proc)


def test_an_episode_taken_over_from_another_partition_needs_room_too(fitted) -> None:
    # A moved asset's episode, offered from the carry-over read, was taken over at its first record on
    # the new partition whatever the daemon held: past alerts.max_assets, with every asset alerting.
    from kafka import TopicPartition
    from test_pipeline_carryover_repartition import _records

    proc, registry = _processor(fitted, max_assets=2)
    for asset in ("hot-2", "hot-3"):
        proc.process(_records(TopicPartition("in", 0), asset, 1, fault=True, start=1), now=1.0)
    assert proc.trackers[("in", 0)].is_open("hot-2") and proc.trackers[("in", 0)].is_open("hot-3")
    moved = Transition("open", "a1", "hot-1", 1.0, 1.0, 0.9, None, source="in/1/5")
    proc.offer({"hot-1": (1, moved)}, now=1.0)
    proc.latest_sources = lambda alert_ids: dict.fromkeys(alert_ids, (1, False))  # still open there
    out = proc.process(_records(TopicPartition("in", 0), "hot-1", 1, fault=True, start=9), now=2.0)
    assert out.messages == [] and "hot-1" not in proc.trackers[("in", 0)] and _held(proc) == 2
    assert registry.get_sample_value("dhag_alerts_carried_over_total") == 0
    assert registry.get_sample_value("dhag_alert_states_refused_total") == 1  # its one reading


def test_episodes_offered_from_other_partitions_are_let_go_once_the_offer_expired(fitted) -> None:
    # The episodes left open on every other partition, offered until alerts.quiet_s from the carry-over
    # read: before, a daemon held them (a flood's too) until its next carry-over read, days later.
    proc, _ = _processor(fitted, max_assets=10)
    offered = {f"made-up-{i}": (1, _episode(i, 1)) for i in range(5000)}
    proc.offer(offered, now=0.0)
    quiet_s = proc.settings.alerts.quiet_s
    proc.sweep(now=quiet_s)
    assert len(proc.offered) == 5000  # still offered
    proc.sweep(now=quiet_s + 1.0)
    assert proc.offered == {}
