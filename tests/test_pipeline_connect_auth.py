"""Credentials refused while the daemon runs (rotated under it): a config error at once (exit 2), not
an outage retried until ``kafka.unavailable_exit_s``."""

from __future__ import annotations

import time
import types

import pytest
from kafka.errors import SaslAuthenticationFailedError
from prometheus_client import CollectorRegistry

from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.errors import ConfigError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


def _refused() -> None:
    raise SaslAuthenticationFailedError("Authentication failed: Invalid username or password")


def _daemon(fitted, monkeypatch) -> tuple[Daemon, list[str]]:
    settings = Settings(kafka=KafkaSettings(unavailable_exit_s=600.0))
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="k:9092"
    )
    monkeypatch.setattr(daemon.delivery, "connect", lambda: None)
    monkeypatch.setattr(daemon, "_new_consumer", _refused)
    failures: list[str] = []

    def failure(what: str, exc: BaseException) -> None:  # an outage: stop rather than retry
        failures.append(what)
        daemon.request_stop()

    monkeypatch.setattr(daemon.health, "failure", failure)
    return daemon, failures


def test_refused_credentials_on_connecting_stop_the_daemon_as_a_config_error(fitted, monkeypatch) -> None:
    daemon, failures = _daemon(fitted, monkeypatch)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="refused the client's authentication") as raised:
        daemon.run()
    assert time.monotonic() - started < 5.0
    assert "k:9092" in str(raised.value) and "kafka.security.sasl_plain_password" in str(raised.value)
    assert failures == []  # not counted as an outage


def test_refused_credentials_on_replacing_a_stalled_consumer_stop_the_daemon(fitted, monkeypatch) -> None:
    daemon, failures = _daemon(fitted, monkeypatch)
    daemon.consumer = types.SimpleNamespace(assignment=lambda: set(), close=lambda **kwargs: None)
    with pytest.raises(ConfigError, match="refused the client's authentication"):
        daemon._restart_consumer()
    assert failures == []
