"""Open alert episodes survive a daemon restart, on the embedded Tansu broker."""

from __future__ import annotations

import threading
import time

import numpy as np
import orjson
import pytest
from pipeline_kafka import (
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)

from pipeline.carryover import read_alert_events

pytestmark = pytest.mark.integration


def _stream(rng: np.random.Generator, ts: float, steps: int, *, fault: bool) -> list[tuple[bytes, bytes]]:
    rows = normal_rows(rng, steps)
    if fault:
        rows[:, 3] += 9.0
    return [(b"pump-7", reading("pump-7", ts + i, row)) for i, row in enumerate(rows)]


def _scored(registry, n: int) -> None:  # noqa: ANN001 - a CollectorRegistry
    wait_for(lambda: sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) >= n, 30, "scoring")


@pytest.mark.parametrize("fault_goes_on", [False, True])
def test_an_episode_open_at_a_restart_is_carried_on_by_the_next_daemon(
    tansu, fitted, model_registry, fault_goes_on: bool
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(
        bs, model_registry, alerts={"open_after": 3, "window": 5, "resolve_after": 5, "resolve_hold_s": 0.0}
    )
    topics, rng = settings.kafka.topics, np.random.default_rng(17)
    produce(bs, topics.input, _stream(rng, 1e9, 10, fault=True))
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        _scored(registry, 10)
        wait_for(lambda: sample(registry, "dhag_offset_commits_total", {"result": "ok"}) >= 1, 10, "a commit")
    (opened,) = [orjson.loads(m.value) for m in read_topic(bs, topics.alerts, count=1, timeout_s=10)]
    assert opened["state"] == "open" and opened["source"].startswith(f"{topics.input}/")

    produce(bs, topics.input, _stream(rng, 1e9 + 10, 10, fault=fault_goes_on))
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        _scored(registry, 10)
        assert sample(registry, "dhag_alerts_carried_over_total") == 1
        events = [
            orjson.loads(m.value) for m in read_topic(bs, topics.alerts, count=2, timeout_s=5, idle_s=1)
        ]
    if fault_goes_on:  # before: a second open under a new alert_id, the first never resolved
        assert [(e["state"], e["alert_id"]) for e in events] == [("open", opened["alert_id"])]
    else:  # before: nothing, the first episode never resolved
        assert [(e["state"], e["alert_id"]) for e in events] == [
            ("open", opened["alert_id"]),
            ("resolved", opened["alert_id"]),
        ]
        assert events[1]["top_sensors"] == opened["top_sensors"]


def test_a_read_of_more_resolved_assets_than_max_assets_says_how_many_it_forgot(
    tansu, fitted, model_registry, caplog
) -> None:
    # Five made-up asset ids opened and resolved an episode each, and pump-7's is still open: with
    # room for two assets, the read forgets three resolutions, says so, and carries pump-7's on.
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, alerts={"max_assets": 2})
    topics = settings.kafka.topics
    now = time.time()
    opened = {"schema": 1, "alert_id": "a-open", "asset_id": "pump-7", "state": "open", "opened_at": now}
    opened |= {"ts": now, "score": 0.9, "source": f"{topics.input}/0/1", "top_sensors": [], "values": {}}
    events = [opened]
    for i in range(5):
        made_up = opened | {
            "alert_id": f"a{i}",
            "asset_id": f"made-up-{i}",
            "source": f"{topics.input}/0/{i + 2}",
        }
        events += [made_up, made_up | {"state": "resolved", "last_source": f"{topics.input}/0/{i + 2}"}]
    produce(bs, topics.alerts, [(e["asset_id"].encode(), orjson.dumps(e)) for e in events])
    produce(bs, topics.input, _stream(np.random.default_rng(3), 1e9, 1, fault=False))
    with (
        caplog.at_level("WARNING", logger="pipeline.rebalance"),
        running_daemon(settings, fitted, bs) as (_daemon, registry),
    ):
        _scored(registry, 1)
        assert sample(registry, "dhag_alerts_carried_over_total") == 1
    said = [r.getMessage() for r in caplog.records if "alerts.max_assets (2)" in r.getMessage()]
    assert said and "the resolutions of the 3 met longest before were not kept" in said[0], said


def test_the_alerts_topic_is_read_to_its_end_when_records_came_in_batches(tansu, model_registry) -> None:
    # Tansu reports the first offset of a partition's last record batch + 1 as its end offset: a read
    # that stopped there would miss all but the first event of a batch.
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry)
    alerts = settings.kafka.topics.alerts
    items = [(f"a{i % 3}".encode(), orjson.dumps({"n": i})) for i in range(60)] + [(b"a0", b"not json")]
    produce(bs, alerts, items)
    events = read_alert_events(settings.kafka, bs, since=time.time() - 3600, timeout_s=15)
    assert sorted(e["n"] for e in events) == list(range(60))
    handed: list[dict] = []  # as the daemon reads: each event folded as it comes, none kept
    assert (
        read_alert_events(settings.kafka, bs, since=time.time() - 3600, timeout_s=15, on_event=handed.append)
        == []
    )
    assert sorted(e["n"] for e in handed) == list(range(60))
    assert read_alert_events(settings.kafka, bs, since=time.time() + 3600, timeout_s=15) == []


def test_a_lookback_from_before_1970_reads_the_whole_alerts_topic(tansu, model_registry) -> None:
    # alerts.carry_over_s: 1.0e+10 (no bound but null's "never"): before, kafka-python refused the
    # negative time, so every assignment counted a failure of the read and carried nothing on.
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, alerts={"carry_over_s": 1e10})
    produce(bs, settings.kafka.topics.alerts, [(b"a0", orjson.dumps({"n": i})) for i in range(3)])
    since = time.time() - settings.alerts.carry_over_s
    events = read_alert_events(settings.kafka, bs, since=since, timeout_s=15)
    assert sorted(e["n"] for e in events) == [0, 1, 2]


class _SlowBroker:
    """A consumer whose broker takes a second to answer each offset lookup, within the caller's timeout."""

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, tps: list) -> None:
        pass

    def _wait(self, timeout_ms: int | None) -> None:
        from kafka.errors import KafkaTimeoutError

        if timeout_ms is not None and timeout_ms < 1000:
            time.sleep(timeout_ms / 1000)
            raise KafkaTimeoutError("no answer")
        time.sleep(1.0)

    def offsets_for_times(self, stamps: dict, timeout_ms: int | None = None) -> dict:
        self._wait(timeout_ms)
        return dict.fromkeys(stamps)

    def end_offsets(self, tps: list, timeout_ms: int | None = None) -> dict:
        self._wait(timeout_ms)
        return dict.fromkeys(tps, 0)

    def close(self, autocommit: bool = False, timeout_ms: int | None = None) -> None:
        pass


def test_the_read_of_the_alerts_topic_keeps_to_its_time(monkeypatch) -> None:
    # Only its fetch loop looked at the deadline: each offset lookup could take request_timeout_ms,
    # so the read could outlast the poll interval it was given a share of.
    from kafka.errors import KafkaTimeoutError

    from pipeline import carryover
    from pipeline.config import Settings

    monkeypatch.setattr(carryover, "new_consumer", lambda *a, **k: _SlowBroker())
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        read_alert_events(Settings().kafka, "x:1", since=0.0, timeout_s=0.3)
    assert time.monotonic() - started < 1.5  # each lookup given the whole second: over 2 s


def test_a_stop_cuts_the_read_of_the_alerts_topic_short(fitted, monkeypatch) -> None:
    # A read with a long budget (max_poll_interval_ms raised) held a stopping daemon past its
    # shutdown grace, into a forced exit. It now gives up at its next broker call, and the daemon
    # counts no failure for it.
    from kafka import TopicPartition
    from kafka.errors import KafkaTimeoutError
    from prometheus_client import CollectorRegistry

    from pipeline import carryover
    from pipeline.config import Settings
    from pipeline.daemon import Daemon
    from pipeline.metrics import PipelineMetrics
    from pipeline.processing import BatchProcessor

    monkeypatch.setattr(carryover, "new_consumer", lambda *a, **k: _SlowBroker())
    stop = [False]
    threading.Timer(0.5, lambda: stop.__setitem__(0, True)).start()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match="stopping"):
        read_alert_events(Settings().kafka, "x:1", since=0.0, timeout_s=60, stopping=lambda: stop[0])
    assert time.monotonic() - started < 2.5  # at the lookup after the stop, not after 60 s

    settings = Settings.model_validate({"kafka": {"topics": {"input": "in"}}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:1"
    )
    daemon.request_stop()
    assert daemon._carry_over({TopicPartition("in", 0)}) is True
    assert metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "carry_over"}) in (
        None,
        0,
    )
