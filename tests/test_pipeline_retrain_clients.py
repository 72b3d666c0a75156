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


def test_the_retrainers_clients_take_the_kafka_settings_the_daemons_take(monkeypatch) -> None:
    # Before: its consumer fetched with kafka-python's own fetch_max_wait_ms (500 ms),
    # fetch_max_bytes and max_partition_fetch_bytes, and both clients reconnected with its own backoff
    # (50 ms to 30 s), whatever kafka.* said; the daemon's clients took them.
    from kafka import KafkaConsumer, KafkaProducer

    settings = Settings.model_validate(
        {
            "kafka": {
                "fetch_max_wait_ms": 40,
                "fetch_max_bytes": 2_000_000,
                "max_partition_fetch_bytes": 500_000,
                "backoff_initial_s": 0.25,
                "backoff_max_s": 7.0,
                "metadata_max_age_ms": 12_000,
                "request_timeout_ms": 9000,
                "client_id": "plant-7",
            },
            "retrain": {"group_id": "plant-7-retrainer"},
        }
    )
    made: list = []
    monkeypatch.setattr(
        clients, "KafkaConsumer", lambda **o: made.append(KafkaConsumer(api_version=(2, 8), **o)) or made[-1]
    )
    monkeypatch.setattr(
        clients, "KafkaProducer", lambda **o: made.append(KafkaProducer(api_version=(2, 8), **o)) or made[-1]
    )
    try:
        consumer, producer = clients.retrainer_clients(settings, "127.0.0.1:1,127.0.0.1:2")
        fetch = {"fetch_max_wait_ms": 40, "fetch_max_bytes": 2_000_000, "max_partition_fetch_bytes": 500_000}
        assert {key: consumer.config[key] for key in fetch} == fetch
        shared = {
            "reconnect_backoff_ms": 250,
            "reconnect_backoff_max_ms": 7000,
            "metadata_max_age_ms": 12_000,
            "request_timeout_ms": 9000,
            "client_id": "plant-7-retrainer",  # its own, told apart from the daemon's in the broker's logs
            # An unreachable cluster given up on within the request timeout (as the consoles do).
            "bootstrap_timeout_ms": 9000,
        }
        for client in (consumer, producer):
            assert {key: client.config[key] for key in shared} == shared
        assert consumer.config["group_id"] == "plant-7-retrainer"
        assert consumer.config["enable_auto_commit"] is False
        assert consumer.config["max_poll_records"] == settings.kafka.batch_size
        assert producer.config["acks"] == -1  # all
    finally:
        for client in made:
            client.close(timeout_ms=100) if isinstance(client, KafkaConsumer) else client.close(timeout=0.1)


def test_the_retrainers_producer_blocks_and_holds_a_record_no_longer_than_the_daemons(monkeypatch) -> None:
    # Before, with kafka-python's own max_block_ms (60 s) and delivery_timeout_ms (120 s): with Kafka
    # gone, a send of a labels dead letter or a candidate's announcement held its loop for a minute.
    from pipeline import brokerlink

    settings = Settings.model_validate({"kafka": {"request_timeout_ms": 9000, "unavailable_exit_s": 4}})
    made: dict[str, dict[str, object]] = {}
    monkeypatch.setattr(clients, "KafkaConsumer", lambda **o: made.setdefault("consumer", o))
    monkeypatch.setattr(clients, "KafkaProducer", lambda **o: made.setdefault("producer", o))
    monkeypatch.setattr(brokerlink, "KafkaProducer", lambda **o: made.setdefault("daemon", o))
    clients.retrainer_clients(settings, "k:9092")
    brokerlink.new_producer(settings.kafka, "k:9092")
    bounds = ("max_block_ms", "delivery_timeout_ms")
    assert {key: made["producer"].get(key) for key in bounds} == {key: made["daemon"][key] for key in bounds}
    assert made["producer"]["max_block_ms"] == 4000
    assert made["producer"]["delivery_timeout_ms"] == brokerlink.delivery_timeout_ms(settings.kafka)
