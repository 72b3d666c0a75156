"""The retrainer's Kafka clients: a consumer built before its producer failed is closed, not left with
its thread and sockets behind (the service retries building both, over and over while Kafka is down)."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

from pipeline.config import Settings
from pipeline.errors import BrokerUnavailableError, ConfigError
from pipeline.retrain import clients


class _Consumer:
    made: list[_Consumer] = []

    def __init__(self, **options: object) -> None:
        self.options = options
        self.closed: dict[str, object] | None = None
        _Consumer.made.append(self)

    def close(self, **kwargs: object) -> None:
        self.closed = kwargs


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (KafkaTimeoutError("no broker answered"), BrokerUnavailableError),
        (SaslAuthenticationFailedError("bad password"), ConfigError),
        (ValueError("an option kafka-python refuses"), ValueError),
    ],
)
def test_a_producer_that_cannot_be_built_closes_the_consumer_built_before_it(
    monkeypatch, failure: Exception, raised: type[Exception]
) -> None:
    def refused(**options: object) -> None:
        raise failure

    _Consumer.made = []
    monkeypatch.setattr(clients, "KafkaConsumer", _Consumer)
    monkeypatch.setattr(clients, "KafkaProducer", refused)
    with pytest.raises(raised):
        clients.retrainer_clients(Settings(), "k:9092")
    (consumer,) = _Consumer.made
    assert consumer.closed is not None
    assert consumer.closed.get("autocommit") is False  # it committed nothing, and must not now


def test_a_position_out_of_what_a_topic_retains_reads_on_from_the_oldest_record_kept(monkeypatch) -> None:
    # kafka-python's default reset ("latest") would skip every alert and label the topic still holds
    # once retention overtook a retrainer held up for days.
    _Consumer.made = []
    monkeypatch.setattr(clients, "KafkaConsumer", _Consumer)
    monkeypatch.setattr(clients, "KafkaProducer", lambda **options: object())
    clients.retrainer_clients(Settings(), "k:9092")
    (consumer,) = _Consumer.made
    assert consumer.options["auto_offset_reset"] == "earliest"
