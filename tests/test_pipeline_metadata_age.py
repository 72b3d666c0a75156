"""Partitions added to a topic are seen by every client within ``kafka.metadata_max_age_ms``: kafka-python
refreshes a client's topic metadata only that often (its own default, 5 minutes, left an input partition
added while the daemon ran unassigned, and its lag exported by no one, for up to that long)."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer

from pipeline import brokerlink
from pipeline.config import KafkaSettings, Settings, load_settings
from pipeline.errors import ConfigError
from pipeline.retrain import clients

SERVERS = "127.0.0.1:1"  # nothing listens: the clients are told the API version and ask no broker


def _offline(module, monkeypatch: pytest.MonkeyPatch, made: list) -> None:  # noqa: ANN001 - a module
    monkeypatch.setattr(
        module, "KafkaConsumer", lambda **o: made.append(KafkaConsumer(api_version=(2, 8), **o)) or made[-1]
    )
    monkeypatch.setattr(
        module, "KafkaProducer", lambda **o: made.append(KafkaProducer(api_version=(2, 8), **o)) or made[-1]
    )


def _close(made: list) -> None:
    for client in made:
        client.close(timeout_ms=100) if isinstance(client, KafkaConsumer) else client.close(timeout=0.1)


@pytest.mark.parametrize("age_ms", [None, 1000, 45_000])
def test_every_client_of_the_daemon_and_the_retrainer_refreshes_its_metadata_that_often(
    monkeypatch, age_ms
) -> None:
    kafka = KafkaSettings() if age_ms is None else KafkaSettings(metadata_max_age_ms=age_ms)
    expected = kafka.metadata_max_age_ms
    assert expected == (age_ms or 30_000)
    made: list = []
    _offline(brokerlink, monkeypatch, made)
    _offline(clients, monkeypatch, made)
    try:
        brokerlink.new_consumer(kafka, SERVERS)  # the group member
        brokerlink.new_consumer(kafka, SERVERS, member=False)  # the alerts-topic reader
        brokerlink.new_producer(kafka, SERVERS)
        clients.retrainer_clients(Settings(kafka=kafka), SERVERS)
        assert len(made) == 5
        assert [client.config["metadata_max_age_ms"] for client in made] == [expected] * 5
    finally:
        _close(made)


@pytest.mark.parametrize("value", ["0", "999", "3600001", "-1", "30s"])
def test_a_metadata_age_out_of_bounds_stops_start_up_naming_the_key(value) -> None:
    with pytest.raises(ConfigError, match=r"key 'kafka\.metadata_max_age_ms' has value"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__METADATA_MAX_AGE_MS": value})


def test_the_five_minute_refresh_of_kafka_python_can_still_be_chosen() -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__METADATA_MAX_AGE_MS": "300000"})
    assert settings.kafka.metadata_max_age_ms == 300_000
