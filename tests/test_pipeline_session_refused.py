"""A broker refusing the daemon's session timeout as it joins its group (INVALID_SESSION_TIMEOUT) is
retried as an outage, as any join failure; its warning and its exit name the setting to change."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from kafka.errors import InvalidSessionTimeoutError, KafkaConnectionError
from prometheus_client import CollectorRegistry

from pipeline.brokerlink import BrokerHealth
from pipeline.config import KafkaSettings
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics


def _health(**kafka: object) -> BrokerHealth:
    settings = KafkaSettings(backoff_initial_s=0.001, backoff_max_s=0.001, **kafka)
    return BrokerHealth(settings, PipelineMetrics(CollectorRegistry()), threading.Event(), "kafka:9092")


def test_a_refused_session_timeout_is_named_in_the_warning_and_the_exit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before: 'Kafka poll failed (for 0.0s now): [Error 26] InvalidSessionTimeoutError', then exit 3,
    # 'unusable to consume', as if the cluster were down; nothing named kafka.session_timeout_ms.
    health = _health(session_timeout_ms=3000, heartbeat_interval_ms=1000, unavailable_exit_s=0.001)
    with caplog.at_level(logging.WARNING):
        health.failure("poll", InvalidSessionTimeoutError())  # the first: a warning, a backoff
    with pytest.raises(BrokerUnavailableError) as stopped:
        time.sleep(0.01)
        health.failure("poll", InvalidSessionTimeoutError())  # past kafka.unavailable_exit_s: exit 3
    said = caplog.text
    assert "kafka.session_timeout_ms 3000" in said and "group.min.session.timeout.ms" in said
    assert "kafka.session_timeout_ms 3000" in str(stopped.value)


def test_another_failure_names_no_setting(caplog: pytest.LogCaptureFixture) -> None:
    health = _health(unavailable_exit_s=3600.0)
    with caplog.at_level(logging.WARNING):
        health.failure("poll", KafkaConnectionError("connection refused"))
    assert "connection refused" in caplog.text and "session_timeout" not in caplog.text
