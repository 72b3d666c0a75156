"""The daemon's view of Kafka's health: an outage ends with the first operation that works."""

from __future__ import annotations

import types

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline import brokerlink
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


def test_a_commit_that_works_ends_the_outage_so_weeks_later_a_timeout_starts_a_new_one(
    fitted, monkeypatch
) -> None:
    # A busy daemon that delivers nothing (no alerts, no scores topic) and never idles: before, only a
    # delivery or an idle check ended an outage, so two commit timeouts thirty days apart read as one
    # outage of thirty days and the daemon exited with code 3.
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    daemon.request_stop()  # no backoff sleeps
    clock = [1000.0]
    monkeypatch.setattr(brokerlink.time, "monotonic", lambda: clock[0])
    daemon.consumer = types.SimpleNamespace(commit=lambda offsets, timeout_ms: None)
    daemon.health.failure("commit", KafkaTimeoutError("a transient timeout"))
    assert metrics.broker_connected._value.get() == 0
    daemon._pending = {TopicPartition("sensor-readings", 0): 5}
    daemon._commit_pending()
    assert metrics.broker_connected._value.get() == 1
    clock[0] += 30 * 86_400
    daemon.health.failure("commit", KafkaTimeoutError("another one, a month later"))  # no exit
    clock[0] += settings.kafka.unavailable_exit_s
    with pytest.raises(BrokerUnavailableError):
        daemon.health.failure("commit", KafkaTimeoutError("a real outage"))
