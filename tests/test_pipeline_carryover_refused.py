"""Open episodes refused at a carry-over (beyond ``alerts.max_assets``, pipeline.ownership) are resolved
on the alerts topic with ``resolved_by: not_carried_over``: before, they stayed open there for good, as
no daemon held them, and an operator saw them open forever (and a second open one for the asset once
its fault was raised again)."""

from __future__ import annotations

import time

import orjson
from prometheus_client import CollectorRegistry

from pipeline.alerts import Transition
from pipeline.carryover import open_episodes
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


def _episode(i: int, partition: int = 0) -> Transition:
    sensors = [{"sensor": "flow_a", "value": 1.0}]
    return Transition(
        "open", f"a{i}", f"made-up-{i}", 1000.0 + i, 1000.0 + i, 0.9, None,
        context=(sensors, {"flow_a": 1.0}, [], []), source=f"in/{partition}/{i}",
    )  # fmt: skip


def _processor(fitted, max_assets: int) -> tuple[BatchProcessor, CollectorRegistry]:
    alerts = {"max_assets": max_assets, "open_after": 1, "window": 1, "resolve_after": 1}
    settings = Settings.model_validate({"alerts": alerts, "kafka": {"topics": {"alerts": "al"}}})
    registry = CollectorRegistry()
    return BatchProcessor(settings, fitted, "v1", PipelineMetrics(registry)), registry


def _events(messages) -> list[dict]:
    return [orjson.loads(m.value) for m in messages if m.topic == "al"]


def _resolved(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("dhag_alerts_resolved_total", {"resolved_by": "not_carried_over"})


def test_episodes_refused_at_a_carry_over_are_resolved_saying_why(fitted) -> None:
    proc, registry = _processor(fitted, max_assets=3)
    assert _resolved(registry) == 0  # exported from start-up, as every cause is
    episodes = [_episode(i) for i in range(5)]
    before = time.time()
    assert proc.carry_over(("in", 0), episodes, 100.0, {}) == 3
    events = _events(proc.sweep(now=101.0))
    assert sorted(e["alert_id"] for e in events) == ["a0", "a1"]  # the oldest opened
    for event in events:
        assert event["state"] == "resolved" and event["resolved_by"] == "not_carried_over"
        assert event["asset_id"] == event["alert_id"].replace("a", "made-up-")
        assert event["source"] == f"in/0/{event['alert_id'][1:]}"
        assert event["top_sensors"] == [{"sensor": "flow_a", "value": 1.0}]
        # It ends no earlier than it was refused: the readings of the asset until then, which the
        # earlier owner held in the episode, stay out of the retraining sample.
        assert event["ts"] >= before and event["opened_at"] == 1000.0 + int(event["alert_id"][1:])
    assert _resolved(registry) == 2
    assert _events(proc.sweep(now=102.0)) == []  # said once
    # Read back at the next carry-over, none of them is open any more; the carried ones are.
    written = [{"schema": 1, "state": "open", "alert_id": f"a{i}", "asset_id": f"made-up-{i}",
                "opened_at": 1000.0 + i, "ts": 1000.0 + i, "score": 0.9, "source": f"in/0/{i}"}
               for i in range(5)]  # fmt: skip
    still = open_episodes(written + events, input_topic="in")
    assert sorted(t.alert_id for t in still[0]) == ["a2", "a3", "a4"]


def test_a_resolution_the_broker_did_not_take_comes_again(fitted) -> None:
    proc, registry = _processor(fitted, max_assets=1)
    proc.carry_over(("in", 0), [_episode(i) for i in range(3)], 100.0, {})
    point = proc.savepoint()
    assert len(_events(proc.sweep(now=101.0))) == 2
    proc.rollback(point)  # not delivered
    assert _resolved(registry) == 0
    point = proc.savepoint()
    assert sorted(e["alert_id"] for e in _events(proc.sweep(now=102.0))) == ["a0", "a1"]
    proc.release(point)
    assert _resolved(registry) == 2


def test_a_batch_says_them_too_and_a_partition_taken_away_first_says_none(fitted) -> None:
    from kafka import TopicPartition
    from test_pipeline_carryover_repartition import _records

    proc, _ = _processor(fitted, max_assets=1)
    proc.carry_over(("in", 0), [_episode(i) for i in range(2)], 100.0, {})
    proc.carry_over(("in", 1), [_episode(10 + i, 1) for i in range(2)], 100.0, {})
    proc.drop_partitions([("in", 1)])  # its new owner reads them back and carries them on
    out = proc.process(_records(TopicPartition("in", 0), "p-ok", 1, fault=False, start=5), now=101.0)
    assert [e["alert_id"] for e in _events(out.messages)] == ["a0"]


def test_the_alerts_console_says_no_daemon_held_it() -> None:
    from pipeline.alertepisodes import Episode

    refused = Episode("a1", "p1", 5.0, 0.9, "v1", [], resolved_at=9.0, resolved_by="not_carried_over")
    assert refused.row()[2] == "resolved-not-carried-over"  # no recovery was seen
    assert (
        Episode("a2", "p1", 5.0, 0.9, "v1", [], resolved_at=9.0, resolved_by="normal_scores").row()[2]
        == "resolved"
    )
