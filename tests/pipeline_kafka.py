"""Helpers for the pipeline's integration tests: settings, producing, reading topics, a daemon thread."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from plant_data import FEATURES
from prometheus_client import CollectorRegistry

from dhag import DHAG
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.topics import ensure_topics

# Small group timings: Tansu makes a join wait about max_poll_interval_ms.
FAST_KAFKA = {
    "max_poll_interval_ms": 2000,
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 500,
    "poll_timeout_ms": 100,
    "backoff_initial_s": 0.1,
    "backoff_max_s": 0.5,
    "unavailable_exit_s": 20.0,
    "request_timeout_ms": 10000,
}


def make_settings(
    bootstrap: str, registry: Path, *, scores: bool = False, **sections: dict[str, Any]
) -> Settings:
    """Settings on fresh, uniquely named topics and group (``scores``: with a scores topic); ``sections``
    override per section."""
    uid = uuid.uuid4().hex[:8]
    kafka = {
        "bootstrap_servers": bootstrap,
        "group_id": f"group-{uid}",
        "topics": {
            "input": f"readings-{uid}",
            "alerts": f"alerts-{uid}",
            "scores": f"scores-{uid}" if scores else None,
            "partitions": 3,
        },
        **FAST_KAFKA,
    }
    overrides = dict(sections)
    topics = overrides.pop("topics", {})
    kafka |= overrides.pop("kafka", {})
    kafka["topics"] = kafka["topics"] | topics
    data = {"kafka": kafka, "model": {"registry": str(registry)}, "metrics": {"port": 0}} | overrides
    settings = Settings.model_validate(data)
    t = settings.kafka.topics
    names = [t.input, t.alerts, t.dlq_topic] + ([t.scores] if t.scores else [])
    ensure_topics(bootstrap, dict.fromkeys(names, t.partitions), create_missing=True, replication_factor=1)
    return settings


def reading(asset: str, ts: float, row: Sequence[float], names: Sequence[str] = FEATURES) -> bytes:
    """A well-formed sensor record."""
    return orjson.dumps(
        {"asset_id": asset, "ts": ts, "values": dict(zip(names, map(float, row), strict=True))}
    )


def produce(
    bootstrap: str, topic: str, items: Sequence[tuple[bytes | None, bytes | None]]
) -> list[tuple[int, int]]:
    """Send ``(key, value)`` pairs in order; returns each one's ``(partition, offset)``."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in items]
        producer.flush(timeout=30)
        return [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    finally:
        producer.close(timeout=5)


def read_topic(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 20.0, idle_s: float = 0
) -> list[Any]:
    """Read a topic from the beginning (no group) until ``count`` records, then ``idle_s`` more quiet time."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        deadline = time.monotonic() + timeout_s
        while not parts and time.monotonic() < deadline:
            time.sleep(0.1)
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        consumer.seek_to_beginning()
        out: list[Any] = []
        quiet_until = None
        while time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=200).values():
                out.extend(msgs)
            if len(out) >= count:
                quiet_until = quiet_until or time.monotonic() + idle_s
                if time.monotonic() >= quiet_until:
                    break
        return out
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` by partition (0 where nothing is committed)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in parts}
    finally:
        consumer.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` until true; fail the test with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    """A metric sample, 0 when the series does not exist yet."""
    return registry.get_sample_value(name, labels or {}) or 0.0


@contextlib.contextmanager
def running_daemon(
    settings: Settings, model: DHAG, bootstrap: str, *, hot_swap: bool = False
) -> Iterator[tuple[Daemon, CollectorRegistry]]:
    """A daemon scoring in a background thread (model version "v1"; ``hot_swap``: watching the registry
    of ``settings.model``); stopped (and joined, bounded) on exit."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, asset_limit=settings.metrics.asset_limit)
    processor = BatchProcessor(settings, model, "v1", metrics)
    reloader = ModelReloader(settings.model, processor, metrics) if hot_swap else None
    daemon = Daemon(settings, processor, metrics, bootstrap_servers=bootstrap, reloader=reloader)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
    thread.start()
    try:
        yield daemon, registry
    finally:
        daemon.request_stop()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the daemon did not stop within 20 s"
        assert result == [0], f"the daemon exited with {result}"


def normal_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal plant rows (see plant_data)."""
    from plant_data import normal

    return normal(rng, n)


def daemon_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment for a ``python -m pipeline run`` child that uses ``settings``' broker, topics,
    group, registry and fast group timings (metrics on a free port); ``extra`` adds ``KEY=value``
    overrides below the ``DHAG_PIPELINE_`` prefix."""
    import os

    k, t = settings.kafka, settings.kafka.topics
    values: dict[str, object] = {
        "KAFKA__BOOTSTRAP_SERVERS": k.bootstrap_servers,
        "KAFKA__GROUP_ID": k.group_id,
        "KAFKA__TOPICS__INPUT": t.input,
        "KAFKA__TOPICS__ALERTS": t.alerts,
        "KAFKA__TOPICS__SCORES": t.scores,
        "KAFKA__TOPICS__PARTITIONS": t.partitions,
        "KAFKA__BATCH_SIZE": k.batch_size,
        "MODEL__REGISTRY": settings.model.registry,
        "METRICS__PORT": 0,
        **{f"KAFKA__{key.upper()}": value for key, value in FAST_KAFKA.items()},
        **extra,
    }
    env = {key: v for key, v in os.environ.items() if not key.startswith("DHAG_PIPELINE_")}
    for key, value in values.items():
        env[f"DHAG_PIPELINE_{key}"] = "null" if value is None else str(value)
    return env


def run_pipeline(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess:
    """``python -m pipeline ARGS`` with ``env`` in ``cwd``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    """How many partitions each of the topics ``names`` has on the broker (those it holds)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics() if t["name"] in names}
    finally:
        admin.close()
