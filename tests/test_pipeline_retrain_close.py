"""The retrainer's stop with Kafka gone: its producer's close may raise (kafka-python's close flushes
first and raises KafkaTimeoutError for records still unsent); the stop goes on and says so."""

from __future__ import annotations

import logging

from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer


class _Producer:
    def __init__(self, undelivered: bool) -> None:
        self.undelivered, self.closes = undelivered, []

    def close(self, timeout: float | None = None) -> None:
        self.closes.append(timeout)
        if self.undelivered and len(self.closes) == 1:
            raise KafkaTimeoutError("Timeout after waiting for 5000 ms")


class _Consumer:
    closed = False

    def close(self) -> None:
        self.closed = True


def _retrainer() -> Retrainer:
    settings = Settings.model_validate({"retrain": {"on_drift": False}})
    return Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(CollectorRegistry()), bootstrap_servers="k:9092"
    )


def test_a_stop_with_dead_letters_kafka_never_took_closes_everything_and_says_so(caplog) -> None:
    # Before: the producer's close raised KafkaTimeoutError out of Retrainer.close (called in run's
    # finally), so a retrainer stopped while Kafka was away ended in a traceback, its consumer left open.
    retrainer, producer, consumer = _retrainer(), _Producer(undelivered=True), _Consumer()
    retrainer._producer, retrainer._consumer = producer, consumer  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="pipeline.retrain.service"):
        retrainer.close()
    assert consumer.closed and producer.closes[0] == 5
    assert retrainer._producer is None and retrainer._consumer is None
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "labels dead-letter records Kafka did not take" in line and "Timeout after waiting" in line


def test_a_stop_with_everything_delivered_says_nothing(caplog) -> None:
    retrainer, producer, consumer = _retrainer(), _Producer(undelivered=False), _Consumer()
    retrainer._producer, retrainer._consumer = producer, consumer  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING):
        retrainer.close()
    assert consumer.closed and producer.closes == [5]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
