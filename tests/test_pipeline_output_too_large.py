"""An output record Kafka refuses as too large is set aside, never retried as it is (pipeline.oversize).

kafka-python splits a batch the broker refused with MESSAGE_TOO_LARGE until the record refused stands
alone, then fails that record's send with MessageSizeTooLargeError; one over the producer's
max_request_size fails at once. The embedded broker takes a topic's ``max.message.bytes`` but never
applies it, so a producer here applies each topic's limit as a broker would. Before, the refusal
failed the batch's delivery: rewound, its other output sent again after each backoff, its partitions
held back until ``kafka.unavailable_exit_s`` ended the run (exit 3, "Kafka unusable"), on every
restart."""

from __future__ import annotations

import threading
from collections import namedtuple

import numpy as np
import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry
from test_pipeline_commit_markers import _Committing
from test_pipeline_lag_markers import TP

from pipeline.batchoutput import Outgoing
from pipeline.brokerlink import BrokerHealth
from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.delivery import Delivery, DeliveryError
from pipeline.errors import ConfigError
from pipeline.metrics import PipelineMetrics
from pipeline.oversize import size
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value headers", defaults=((),))
TOPICS = {"input": "in", "alerts": "al", "scores": "sc", "dlq": "dl"}


class _Broker:
    """A producer whose topics take records of at most ``limits[topic]`` bytes (key, value, headers),
    refusing larger ones as kafka-python reports them; ``max_request_size`` as the producer's own."""

    def __init__(self, limits: dict[str, int], max_request_size: int = 1 << 20, fail: str = "") -> None:
        self.limits, self.max_request_size, self.fail = limits, max_request_size, fail
        self.sent: list[Outgoing] = []  # every record acknowledged
        self.attempts = 0

    def send(self, topic: str, key=None, value=None, headers=None) -> Future:
        message = Outgoing(topic, key, value, list(headers or []))
        self.attempts += 1
        if size(message) > self.max_request_size:
            raise MessageSizeTooLargeError(f"The message is {size(message)} bytes when serialized")
        if topic == self.fail:
            return Future().failure(KafkaTimeoutError("no answer"))
        if size(message) > self.limits.get(topic, 1 << 20):
            return Future().failure(MessageSizeTooLargeError())
        self.sent.append(message)
        return Future().success(None)

    def flush(self, timeout=None) -> None:
        pass

    def close(self, timeout=None) -> None:
        pass


def _delivery(broker: _Broker) -> tuple[Delivery, PipelineMetrics]:
    kafka = KafkaSettings(topics=TOPICS)
    metrics = PipelineMetrics(CollectorRegistry())
    delivery = Delivery(kafka, "x:1", BrokerHealth(kafka, metrics, threading.Event(), "x:1"))
    delivery.producer = broker  # type: ignore[assignment]
    return delivery, metrics


def _too_large(metrics: PipelineMetrics, output: str) -> float | None:
    return metrics.registry.get_sample_value("dhag_outputs_too_large_total", {"output": output})


def _headers(message: Outgoing) -> dict[str, bytes]:
    return dict(message.headers)


def test_an_output_refused_for_its_size_goes_to_the_dead_letter_topic_in_its_place() -> None:
    broker = _Broker({"sc": 1000})
    delivery, metrics = _delivery(broker)
    small, big = Outgoing("sc", b"a-1", b"s" * 10), Outgoing("sc", b"a-2", b"b" * 5000)
    delivery.deliver([small, big])  # before: DeliveryError, and the batch retried until the run ended
    assert broker.sent[0] == small
    assert len(broker.sent) == 2
    aside = broker.sent[1]
    assert (aside.topic, aside.key, aside.value) == ("dl", b"a-2", big.value)
    headers = _headers(aside)
    assert headers["dlq.reason"] == b"output_too_large"
    assert headers["dlq.output.topic"] == b"sc"
    assert b"'sc'" in headers["dlq.detail"] and b"max.message.bytes" in headers["dlq.detail"]
    assert _too_large(metrics, "scores") == 1
    assert _too_large(metrics, "alerts") == _too_large(metrics, "dlq") == 0


def test_a_dead_letter_refused_for_its_size_goes_again_without_its_value() -> None:
    broker = _Broker({"dl": 1000})
    delivery, metrics = _delivery(broker)
    letter = Outgoing("dl", b"a-1", b"x" * 5000, [("dlq.reason", b"oversized")])
    delivery.deliver([letter])
    assert len(broker.sent) == 1
    again = broker.sent[0]
    assert (again.topic, again.key, again.value) == ("dl", b"a-1", b"")
    headers = _headers(again)
    assert headers["dlq.reason"] == b"oversized"  # why the record was set aside: unchanged
    assert headers["dlq.truncated_from"] == b"5000" and len(headers["dlq.original_sha256"]) == 64
    assert headers["dlq.value_dropped"] == b"5000"
    assert _too_large(metrics, "dlq") == 1


def test_an_output_too_large_for_the_producer_and_the_dead_letter_topic_is_set_aside_bare() -> None:
    # Over the producer's max_request_size its send raises at once; its dead letter (the value cut
    # to 512 KiB) is then refused by a small dead-letter topic, and goes without its value.
    broker = _Broker({"dl": 2000}, max_request_size=600_000)
    delivery, metrics = _delivery(broker)
    delivery.deliver([Outgoing("al", b"a-1", b"v" * 700_000)])
    [bare] = broker.sent
    assert (bare.topic, bare.value) == ("dl", b"")
    headers = _headers(bare)
    assert headers["dlq.reason"] == b"output_too_large" and headers["dlq.output.topic"] == b"al"
    assert headers["dlq.truncated_from"] == b"700000"
    assert _too_large(metrics, "alerts") == _too_large(metrics, "dlq") == 1


def test_a_key_too_large_goes_with_the_value() -> None:
    broker = _Broker({"dl": 2000})
    delivery, _ = _delivery(broker)
    delivery.deliver([Outgoing("dl", b"k" * 3000, b"x")])
    [bare] = broker.sent
    assert bare.key is None and _headers(bare)["dlq.key_dropped_from"] == b"3000"


def test_a_dead_letter_topic_that_takes_no_dead_letter_stops_the_daemon_naming_it() -> None:
    delivery, _ = _delivery(_Broker({"dl": 50, "sc": 50}))
    with pytest.raises(ConfigError, match=r"'dl'.*max\.message\.bytes"):
        delivery.deliver([Outgoing("sc", b"a-1", b"s" * 100)])


def test_other_failures_are_still_retried() -> None:
    broker = _Broker({"sc": 1000}, fail="al")
    delivery, metrics = _delivery(broker)
    with pytest.raises(DeliveryError, match="al"):
        delivery.deliver([Outgoing("al", b"a-1", b"x"), Outgoing("sc", b"a-2", b"b" * 5000)])
    assert broker.sent == []  # nothing set aside: the whole batch is sent again
    assert _too_large(metrics, "scores") == 0


def test_a_batch_with_a_dead_letter_too_large_is_committed_once(fitted) -> None:
    settings = Settings.model_validate({"kafka": {"topics": TOPICS}})
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x")
    daemon.consumer = consumer = _Committing(position=None)  # type: ignore[assignment]
    broker = _Broker({"dl": 2000})
    daemon.delivery.producer = broker  # type: ignore[assignment]
    rows = normal(np.random.default_rng(8), 3)
    records = [Rec("in", 0, i, b"a-1", reading("a-1", 1.0 + i, row)) for i, row in enumerate(rows)]
    records[1] = Rec("in", 0, 1, b"a-1", b"[" * 10_000)  # not JSON, and its dead letter too large
    daemon._handle(records)
    assert consumer.commits == [{TP: 3}]
    [bare] = [m for m in broker.sent if m.topic == "dl"]
    headers = _headers(bare)
    assert headers["dlq.reason"] == b"not_json" and headers["dlq.source.offset"] == b"1"
    assert bare.value == b"" and headers["dlq.truncated_from"] == b"10000"
