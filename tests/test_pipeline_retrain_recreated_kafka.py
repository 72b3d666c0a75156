"""On the real embedded broker (which gives topic ids): an alerts topic deleted and created again while
the retrainer was stopped, its new incarnation holding more records than the label store had read of
the old one, is read from its start at the next start; one that was not, whose end offset the broker
reports short, is resumed where the store left it."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient
from pipeline_kafka import make_settings, produce, sample
from prometheus_client import CollectorRegistry

from dhag import DHAG
from pipeline.broker import EmbeddedBroker
from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.registry import publish
from pipeline.retrain.service import Retrainer
from pipeline.topics import ensure_topics

pytestmark = pytest.mark.integration


def _alerts(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    event = {"schema": 1, "asset_id": "p1", "state": "open", "score": 0.9, "threshold": 0.5}
    return [
        (
            b"p1",
            orjson.dumps(
                event | {"alert_id": f"{prefix}{i}", "opened_at": 100.0 + i, "ts": 100.0 + i, "values": {}}
            ),
        )
        for i in range(n)
    ]


def _caught_up(settings: Settings, store: LabelStore) -> CollectorRegistry:
    """Start a retrainer on ``store``, read every topic to its end, stop it; returns its metrics."""
    registry = CollectorRegistry()
    retrainer = Retrainer(
        settings, store, RetrainMetrics(registry), bootstrap_servers=settings.kafka.bootstrap_servers
    )
    retrainer.open()
    try:
        retrainer.catch_up(timeout_s=30)
    finally:
        retrainer.close()
    return registry


def _recreate(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 20
        while topic in admin.list_topics():
            assert time.monotonic() < deadline, f"{topic} not deleted"
            time.sleep(0.1)
    finally:
        admin.close()
    ensure_topics(bootstrap, {topic: partitions}, create_missing=True, replication_factor=1)


def test_an_alerts_topic_recreated_while_stopped_is_read_from_its_start(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    publish(tmp_path / "registry", fitted, "v1")
    settings = make_settings(tansu.bootstrap_servers, tmp_path / "registry")
    bootstrap, t = tansu.bootstrap_servers, settings.kafka.topics
    ensure_topics(bootstrap, {t.labels: t.partitions}, create_missing=True, replication_factor=1)
    store = LabelStore(tmp_path / "labels.sqlite")
    ((partition, _), *_) = produce(bootstrap, t.alerts, _alerts("old-", 3))  # one asset: one partition
    _caught_up(settings, store)
    assert store.has_alert("old-2")
    _recreate(bootstrap, t.alerts, t.partitions)
    for alert in _alerts("new-", 5):  # more than the 3 read of the old topic, one batch each (Tansu
        produce(bootstrap, t.alerts, [alert])  # gives the end offset as its last batch's first + 1)
    with caplog.at_level(logging.WARNING):
        registry = _caught_up(settings, store)
    # Before, the new topic was resumed at offset 3: new-0 to new-2 were never read.
    assert [store.has_alert(f"new-{i}") for i in range(5)] == [True] * 5
    assert sample(registry, "dhag_retrain_partitions_recreated_total", {"change": "read_again"}) == 1
    assert (
        f"{t.alerts}/{partition}, read up to offset 3 before the retrainer started, has a new topic id"
        in caplog.text
    )


def test_a_topic_whose_end_the_broker_reports_short_is_resumed_at_the_next_start(
    tansu: EmbeddedBroker, tmp_path: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    # Tansu gives a partition's end offset as its last record batch's first offset + 1: after one batch
    # of 5 alerts, 1. A start after one that read them all took that for a recreated topic and read it
    # again from its start ("holds records only up to 1 (the topic was recreated?)").
    publish(tmp_path / "registry", fitted, "v1")
    settings = make_settings(tansu.bootstrap_servers, tmp_path / "registry")
    bootstrap, t = tansu.bootstrap_servers, settings.kafka.topics
    ensure_topics(bootstrap, {t.labels: t.partitions}, create_missing=True, replication_factor=1)
    store = LabelStore(tmp_path / "labels.sqlite")
    produce(bootstrap, t.alerts, _alerts("a-", 5))  # one batch
    _caught_up(settings, store)
    assert store.has_alert("a-4")
    with caplog.at_level(logging.WARNING):
        registry = _caught_up(settings, store)
    assert "recreated" not in caplog.text
    assert sample(registry, "dhag_retrain_partitions_recreated_total", {"change": "read_again"}) == 0
