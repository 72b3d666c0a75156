"""Every Kafka client the service builds, and the consoles', leaves nothing running when it cannot
reach Kafka: kafka-python starts a client's network thread before its first broker contact and raises
from the constructor when that fails, the thread left running for the life of the process. The
retrainer retries its clients over and over while Kafka is down; each attempt kept one more thread.
(The daemon's own consumer and producer: tests/test_pipeline_delivery.py.)"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from kafka.errors import KafkaError

from pipeline.broker import free_port
from pipeline.cli import main
from pipeline.config import KafkaSettings, Settings, TopicSettings
from pipeline.errors import BrokerUnavailableError
from pipeline.labeltopic import ensure_labels_topic
from pipeline.retrain.clients import retrainer_clients
from pipeline.topics import ensure_topics

TIMEOUT_MS = 1000


def _kafka_threads(earlier: set[threading.Thread]) -> list[str]:
    return [t.name for t in threading.enumerate() if t not in earlier and t.name.startswith("kafka")]


def _retrainer(bootstrap: str) -> None:
    settings = Settings(kafka=KafkaSettings(request_timeout_ms=TIMEOUT_MS))
    with pytest.raises(BrokerUnavailableError):
        retrainer_clients(settings, bootstrap)


def _topics(bootstrap: str) -> None:
    with pytest.raises(BrokerUnavailableError):
        ensure_topics(bootstrap, {"t": 1}, create_missing=True, timeout_s=TIMEOUT_MS / 1000)


def _labels_topic(bootstrap: str) -> None:
    options = {"bootstrap_timeout_ms": TIMEOUT_MS, "request_timeout_ms": TIMEOUT_MS}
    with pytest.raises(KafkaError):
        ensure_labels_topic(TopicSettings(), bootstrap, options)


def _console(*command: str) -> Callable[[str], None]:
    def run(bootstrap: str) -> None:
        assert main([*command, "--bootstrap", bootstrap]) == 3

    return run


@pytest.mark.parametrize(
    "attempt",
    [
        _retrainer,
        _topics,
        _labels_topic,
        _console("alerts"),
        _console("label", "a-1", "--anomaly", "--operator", "kim"),
    ],
    ids=["retrainer", "topics", "labels-topic", "alerts", "label"],
)
def test_a_client_that_cannot_reach_kafka_leaves_no_thread_running(
    attempt: Callable[[str], None], monkeypatch
) -> None:
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__REQUEST_TIMEOUT_MS", str(TIMEOUT_MS))
    earlier = set(threading.enumerate())
    for _ in range(2):
        attempt(f"127.0.0.1:{free_port()}")
    assert _kafka_threads(earlier) == []
