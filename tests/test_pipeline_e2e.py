"""End to end on the embedded Tansu broker: the daemon scores, alerts, dead-letters and commits."""

from __future__ import annotations

import threading
import urllib.request

import numpy as np
import orjson
import pytest
from kafka import KafkaProducer
from pipeline_kafka import (
    committed,
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)
from plant_data import FEATURES
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from pipeline.broker import EmbeddedBroker
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics, serve_metrics
from pipeline.processing import BatchProcessor

pytestmark = pytest.mark.integration


def test_faults_open_and_resolve_alerts_and_normal_assets_stay_quiet(tansu, fitted, model_registry) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(
        bs, model_registry, alerts={"open_after": 3, "window": 5, "resolve_after": 8, "resolve_hold_s": 0.0}
    )
    rng = np.random.default_rng(7)
    assets = [f"pump-{i}" for i in range(6)]
    faulty = {"pump-1": 3, "pump-4": 1}  # asset -> index of the sensor pushed far off
    items, ts = [], 1_790_000_000.0
    for step in range(40):
        rows = normal_rows(rng, len(assets))
        for asset, row in zip(assets, rows, strict=True):
            if asset in faulty and 10 <= step < 16:
                row[faulty[asset]] += 9.0
            items.append((asset.encode(), reading(asset, ts, row)))
            ts += 0.1
    produce(bs, settings.kafka.topics.input, items)
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        wait_for(
            lambda: sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) >= len(items),
            30,
            "scoring",
        )
        alerts = read_topic(bs, settings.kafka.topics.alerts, count=4, timeout_s=15, idle_s=0.5)
        wait_for(
            lambda: (
                sum(committed(bs, settings.kafka.group_id, settings.kafka.topics.input).values())
                == len(items)
            ),
            10,
            "commit",
        )
    events = [orjson.loads(m.value) for m in alerts]
    assert sorted((e["asset_id"], e["state"]) for e in events) == [
        ("pump-1", "open"),
        ("pump-1", "resolved"),
        ("pump-4", "open"),
        ("pump-4", "resolved"),
    ]
    for asset, sensor in faulty.items():
        opened = next(e for e in events if e["asset_id"] == asset and e["state"] == "open")
        resolved = next(e for e in events if e["asset_id"] == asset and e["state"] == "resolved")
        assert opened["alert_id"] == resolved["alert_id"]
        assert opened["top_sensors"][0]["sensor"] == FEATURES[sensor]
        assert opened["model_version"] == "v1" and opened["score"] > opened["threshold"]
        assert set(opened["values"]) == set(FEATURES)
    assert sample(registry, "dhag_alerts_opened_total") == 2
    assert sample(registry, "dhag_records_consumed_total") == len(items)


def test_metrics_endpoint_parses_and_counts_what_was_sent(tansu, fitted, model_registry) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry)
    rng = np.random.default_rng(3)
    items = [
        (b"fan-1", reading("fan-1", 1_790_000_000 + i, row)) for i, row in enumerate(normal_rows(rng, 50))
    ]
    items += [(b"fan-1", b"not json"), (b"fan-2", b"[]")]
    produce(bs, settings.kafka.topics.input, items)
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        server, port = serve_metrics(registry, "127.0.0.1", 0)
        try:
            # Wait for the end of the batch, not its start: consumed is counted when a poll returns,
            # processed and the partition lag once the batch is through.
            def batch_done() -> bool:
                name = "dhag_records_processed_total"
                processed = sum(sample(registry, name, {"outcome": o}) for o in ("ok", "invalid"))
                lags = [
                    s.value
                    for family in registry.collect()
                    for s in family.samples
                    if s.name == "dhag_consumer_lag_records"
                ]
                return processed >= len(items) and bool(lags) and all(v == 0 for v in lags)

            wait_for(batch_done, 20, "processing")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                text = resp.read().decode()
        finally:
            server.shutdown()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("dhag_records_consumed_total", ())] == 52
    assert samples[("dhag_records_processed_total", (("outcome", "ok"),))] == 50
    assert samples[("dhag_records_processed_total", (("outcome", "invalid"),))] == 2
    assert samples[("dhag_dlq_records_total", (("reason", "not_json"),))] == 1
    assert samples[("dhag_dlq_records_total", (("reason", "not_object"),))] == 1
    assert samples[("dhag_anomaly_score_count", ())] == 50
    assert samples[("dhag_model_info", (("version", "v1"),))] == 1
    assert samples[("dhag_broker_connected", ())] == 1
    lags = [v for (name, _labels), v in samples.items() if name == "dhag_consumer_lag_records"]
    assert lags and all(v == 0 for v in lags)


def test_every_kind_of_bad_record_is_dead_lettered_and_good_ones_are_scored(
    tansu, fitted, model_registry
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, scores=True, records={"max_record_bytes": 400})
    good = dict(zip(FEATURES, [0.1, 0.2, 0.3, 0.0], strict=True))

    def doc(**fields: object) -> bytes:
        return orjson.dumps({"asset_id": "mix-1", "ts": 1_790_000_000, "values": good} | fields)

    bad = {
        "not_json": b'{"asset_id": "mix-1", ',
        "not_object": b"[1, 2, 3]",
        "missing_field": orjson.dumps({"asset_id": "mix-1", "values": good}),
        "wrong_type": doc(values=good | {"flow_a": "41.2"}),
        "missing_value": doc(values={k: v for k, v in good.items() if k != "flow_b"}),
        "non_finite": doc(values=good).replace(b'"flow_a":0.1', b'"flow_a":NaN'),
        "oversized": doc(note="x" * 500),
        "bad_asset_id": doc(asset_id="pump 7; drop"),
        "bad_timestamp": doc(ts="yesterday"),
        "duplicate_field": doc().replace(b'"asset_id":"mix-1"', b'"asset_id":"mix-1","asset_id":"mix-2"'),
    }
    items = []
    for value in bad.values():
        items += [(b"mix-1", doc()), (b"mix-1", value), (b"mix-1", doc())]
    positions = produce(bs, settings.kafka.topics.input, items)
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        dlq = read_topic(bs, settings.kafka.topics.dlq_topic, count=len(bad), timeout_s=20)
        scores = read_topic(bs, settings.kafka.topics.scores, count=2 * len(bad), timeout_s=20)
        wait_for(lambda: sample(registry, "dhag_offset_commits_total", {"result": "ok"}) >= 1, 10, "a commit")
    assert len(dlq) == len(bad) and len(scores) == 2 * len(bad)
    by_reason = {dict(m.headers)["dlq.reason"].decode(): m for m in dlq}
    assert set(by_reason) == set(bad)
    for reason, value in bad.items():
        headers = dict(by_reason[reason].headers)
        assert by_reason[reason].value == value, reason  # the original bytes, untouched
        partition, offset = positions[[v for _, v in items].index(value)]
        assert headers["dlq.source.topic"].decode() == settings.kafka.topics.input
        assert (int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"])) == (
            partition,
            offset,
        )
        assert headers["dlq.detail"] and float(headers["dlq.first_seen"]) > 0
    good_positions = {positions[i] for i, (_, v) in enumerate(items) if v == doc()}
    assert {
        (orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scores
    } == good_positions


def test_restart_resumes_without_skipping_and_commits_exactly_what_was_processed(
    tansu, fitted, model_registry
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, scores=True, kafka={"batch_size": 100})
    rng = np.random.default_rng(11)
    n = 3000
    items = [
        (f"m-{i % 20}".encode(), reading(f"m-{i % 20}", 1_790_000_000 + i, row))
        for i, row in enumerate(normal_rows(rng, n))
    ]
    positions = produce(bs, settings.kafka.topics.input, items)
    topic, group = settings.kafka.topics.input, settings.kafka.group_id
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        wait_for(lambda: sample(registry, "dhag_records_consumed_total") >= 800, 30, "the first 800 records")
    first = committed(bs, group, topic)
    scored_first = read_topic(bs, settings.kafka.topics.scores, count=sum(first.values()), timeout_s=10)
    first_positions = {
        (orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scored_first
    }
    assert 0 < sum(first.values()) < n, "the first run was meant to stop mid-stream"
    # Nothing is committed that was not scored: every offset below a committed one has a score.
    assert {(p, o) for p, o in positions if o < first[p]} <= first_positions
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        wait_for(lambda: sum(committed(bs, group, topic).values()) == n, 40, "all records committed")
    scored = read_topic(bs, settings.kafka.topics.scores, count=n, timeout_s=20)
    assert {(orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scored} == set(
        positions
    )
    high = {p: max(o for q, o in positions if q == p) + 1 for p in {p for p, _ in positions}}
    assert committed(bs, group, topic) == high


def test_dlq_ratio_cap_pauses_consumption_then_resumes_by_config(tansu, fitted, model_registry) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(
        bs,
        model_registry,
        kafka={"batch_size": 20},
        dlq={"max_ratio": 0.5, "window": 40, "min_records": 20, "resume_after_s": 3.0},
    )
    rng = np.random.default_rng(2)
    garbage = [(b"x", b"garbage %d" % i) for i in range(60)]
    good = [(b"y", reading("y", 1_790_000_000 + i, r)) for i, r in enumerate(normal_rows(rng, 60))]
    topic = settings.kafka.topics.input
    # Order matters here (the garbage first), so everything goes to one partition.
    producer = KafkaProducer(bootstrap_servers=bs)
    for _, value in garbage + good:
        producer.send(topic, value=value, partition=0)
    producer.flush(timeout=10)
    producer.close(timeout=5)
    with running_daemon(settings, fitted, bs) as (_daemon, registry):
        wait_for(lambda: sample(registry, "dhag_dlq_paused") == 1, 20, "the pause")
        consumed_when_paused = sample(registry, "dhag_records_consumed_total")
        assert consumed_when_paused < 120
        wait_for(lambda: sample(registry, "dhag_records_consumed_total") == 120, 20, "the resume")
    assert sample(registry, "dhag_dlq_records_total", {"reason": "not_json"}) == 60
    assert sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) == 60


def test_a_second_consumer_takes_over_partitions_and_nothing_is_skipped(
    tansu, fitted, model_registry
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, scores=True, kafka={"batch_size": 50})
    topic, group = settings.kafka.topics.input, settings.kafka.group_id
    rng = np.random.default_rng(21)

    def burst(start: int, n: int) -> list[tuple[int, int]]:
        rows = normal_rows(rng, n)
        items = [
            (f"r-{i % 12}".encode(), reading(f"r-{i % 12}", 1_790_000_000 + start + i, r))
            for i, r in enumerate(rows)
        ]
        return produce(bs, topic, items)

    positions = burst(0, 600)
    with running_daemon(settings, fitted, bs) as (_first, reg1):
        wait_for(lambda: sample(reg1, "dhag_records_consumed_total") >= 600, 30, "the first consumer")
        with running_daemon(settings, fitted, bs) as (_second, reg2):
            wait_for(
                lambda: (
                    sample(reg2, "dhag_assigned_partitions") >= 1
                    and sample(reg1, "dhag_assigned_partitions") < 3
                ),
                30,
                "the rebalance",
            )
            positions += burst(600, 600)
            wait_for(lambda: sum(committed(bs, group, topic).values()) == 1200, 30, "all records committed")
            assert sample(reg2, "dhag_records_consumed_total") > 0
    scored = read_topic(bs, settings.kafka.topics.scores, count=1200, timeout_s=20)
    assert {(orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in scored} == set(
        positions
    )


def test_a_lost_broker_is_retried_then_the_daemon_exits_for_the_supervisor(fitted, model_registry) -> None:
    with EmbeddedBroker() as own:
        bs = own.bootstrap_servers
        settings = make_settings(bs, model_registry, kafka={"unavailable_exit_s": 3.0})
        registry = CollectorRegistry()
        metrics = PipelineMetrics(registry)
        daemon = Daemon(
            settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers=bs
        )
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
        thread.start()
        try:
            wait_for(lambda: sample(registry, "dhag_assigned_partitions") == 3, 30, "the assignment")
            own.stop()
            wait_for(lambda: sample(registry, "dhag_broker_connected") == 0 and bool(result), 30, "the exit")
        finally:
            daemon.request_stop()
            thread.join(timeout=20)
    assert result == [3]
    assert (
        sum(s.value for s in registry.collect() for s in s.samples if s.name == "dhag_broker_failures_total")
        >= 1
    )
