"""The daemon's Kafka clients get the ``kafka`` settings that concern them, and every combination the
settings accept builds clients kafka-python accepts (built here without a broker: the API version is
given, so nothing is asked of one)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kafka import KafkaConsumer, KafkaProducer

from pipeline import brokerlink
from pipeline.config import KafkaSettings, Settings

SERVERS = "127.0.0.1:1"  # nothing listens: no client may need it


@contextmanager
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """The clients brokerlink builds, real but told the API version (so they ask no broker)."""
    made: list = []

    def consumer(**options):
        made.append(KafkaConsumer(api_version=(2, 8), **options))
        return made[-1]

    def producer(**options):
        made.append(KafkaProducer(api_version=(2, 8), **options))
        return made[-1]

    monkeypatch.setattr(brokerlink, "KafkaConsumer", consumer)
    monkeypatch.setattr(brokerlink, "KafkaProducer", producer)
    try:
        yield made
    finally:
        for client in made:
            client.close(timeout_ms=100) if isinstance(client, KafkaConsumer) else client.close(timeout=0.1)


def test_the_consumers_wait_the_configured_request_timeout(monkeypatch) -> None:
    # The group member and the reader of the alerts topic used kafka-python's 30 s whatever
    # kafka.request_timeout_ms said (the producer alone got it): a committed offset read while the
    # broker did not answer waited 30 s where 5 s was configured.
    kafka = KafkaSettings(
        request_timeout_ms=5000,
        session_timeout_ms=12_000,
        heartbeat_interval_ms=2000,
        max_poll_interval_ms=40_000,
        fetch_max_wait_ms=50,
        fetch_max_bytes=2_000_000,
        max_partition_fetch_bytes=500_000,
        batch_size=321,
        auto_offset_reset="latest",
        client_id="daemon-7",
        group_id="scorers",
    )
    with _offline(monkeypatch) as made:
        member = brokerlink.new_consumer(kafka, SERVERS)
        reader = brokerlink.new_consumer(kafka, SERVERS, member=False)
        producer = brokerlink.new_producer(kafka, SERVERS)
        assert made == [member, reader, producer]
        expected = {
            "request_timeout_ms": 5000,
            "session_timeout_ms": 12_000,
            "heartbeat_interval_ms": 2000,
            "max_poll_interval_ms": 40_000,
            "fetch_max_wait_ms": 50,
            "fetch_max_bytes": 2_000_000,
            "max_partition_fetch_bytes": 500_000,
            "max_poll_records": 321,
            "auto_offset_reset": "latest",
            "client_id": "daemon-7",
            "group_id": "scorers",
            "enable_auto_commit": False,
        }
        assert {key: member.config[key] for key in expected} == expected
        assert reader.config["request_timeout_ms"] == 5000 and reader.config["group_id"] is None
        assert producer.config["request_timeout_ms"] == 5000
        assert producer.config["delivery_timeout_ms"] == brokerlink.delivery_timeout_ms(kafka)


@pytest.mark.parametrize(
    "edges",
    [
        {"request_timeout_ms": 1000, "fetch_max_wait_ms": 500},
        {"request_timeout_ms": 119_000, "fetch_max_wait_ms": 10_000},
        {"request_timeout_ms": 1000, "session_timeout_ms": 600_000, "heartbeat_interval_ms": 599_999},
        {"session_timeout_ms": 1000, "heartbeat_interval_ms": 999, "max_poll_interval_ms": 1000},
        {"fetch_max_wait_ms": 0, "fetch_max_bytes": 1024, "max_partition_fetch_bytes": 1024},
    ],
    ids=["shortest request", "longest request", "session past request", "shortest session", "smallest"],
)
def test_every_combination_the_settings_accept_builds_clients(monkeypatch, edges) -> None:
    kafka = KafkaSettings(**edges)
    with _offline(monkeypatch) as made:
        brokerlink.new_consumer(kafka, SERVERS)
        brokerlink.new_consumer(kafka, SERVERS, member=False)
        brokerlink.new_producer(kafka, SERVERS)
        assert all(client.config["request_timeout_ms"] == kafka.request_timeout_ms for client in made)


@pytest.mark.parametrize(
    "edges",
    [
        {},
        {"request_timeout_ms": 5000},
        {"request_timeout_ms": 1000, "session_timeout_ms": 600_000, "heartbeat_interval_ms": 599_999},
        {"request_timeout_ms": 119_000, "fetch_max_wait_ms": 10_000},
    ],
    ids=["defaults", "short request", "session past the idle limit", "longest request"],
)
def test_the_retrainers_clients_build_for_every_setting_and_wait_the_request_timeout(
    monkeypatch, edges
) -> None:
    # The retrainer's consumer waited max(request, session + 1 s): a session timeout of 539 s or more
    # (which the settings accept) passed kafka-python's connections_max_idle_ms and the retrainer could
    # not start. Its consumer is assigned its partitions and never joins a group, so the session timeout
    # is no bound on its requests.
    from pipeline.retrain import clients

    settings = Settings(kafka=KafkaSettings(**edges))
    made: list = []
    monkeypatch.setattr(
        clients, "KafkaConsumer", lambda **o: made.append(KafkaConsumer(api_version=(2, 8), **o)) or made[-1]
    )
    monkeypatch.setattr(
        clients, "KafkaProducer", lambda **o: made.append(KafkaProducer(api_version=(2, 8), **o)) or made[-1]
    )
    try:
        consumer, producer = clients.retrainer_clients(settings, SERVERS)
        assert made == [consumer, producer]
        assert consumer.config["request_timeout_ms"] == settings.kafka.request_timeout_ms
        assert producer.config["request_timeout_ms"] == settings.kafka.request_timeout_ms
        assert consumer.config["group_id"] == settings.retrain.group_id
    finally:
        for client in made:
            client.close(timeout_ms=100) if isinstance(client, KafkaConsumer) else client.close(timeout=0.1)


def _longest_fetch_wait(request_timeout_ms: int) -> int:
    """The longest ``kafka.fetch_max_wait_ms`` the settings accept beside ``request_timeout_ms``."""
    low, high = 0, 10_000  # accepted, and the field's bound
    while low < high:
        mid = (low + high + 1) // 2
        try:  # the rules between keys are judged on the whole settings
            Settings.model_validate(
                {"kafka": {"request_timeout_ms": request_timeout_ms, "fetch_max_wait_ms": mid}}
            )
        except ValueError:
            high = mid - 1
        else:
            low = mid
    return low


@pytest.mark.parametrize("request_timeout_ms", [1000, 3000])
def test_an_idle_fetch_held_as_long_as_the_settings_allow_is_answered_within_the_request_timeout(
    tansu, caplog, request_timeout_ms
) -> None:
    # The broker holds a fetch for fetch_max_wait_ms when no records come; the settings took any wait
    # below the request timeout (999 ms of 1000), so once the consumers waited kafka.request_timeout_ms,
    # every fetch of a quiet partition timed out, and kafka-python closed the connection each time
    # (with the heartbeats, commits and the join on it).
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.admin import NewTopic

    topic = f"quiet-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=tansu.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    kafka = KafkaSettings(
        request_timeout_ms=request_timeout_ms,
        fetch_max_wait_ms=_longest_fetch_wait(request_timeout_ms),
        group_id=f"quiet-{uuid.uuid4().hex[:8]}",
    )
    caplog.set_level(logging.DEBUG, logger="kafka")
    consumer = brokerlink.new_consumer(kafka, tansu.bootstrap_servers)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_end(tp)
        until = time.monotonic() + 4 * request_timeout_ms / 1000 + 2.0
        while time.monotonic() < until:
            assert consumer.poll(timeout_ms=200) == {}
    finally:
        consumer.close(autocommit=False, timeout_ms=1000)
    timed_out = [r.getMessage() for r in caplog.records if "timed out" in r.getMessage().lower()]
    assert timed_out == [], timed_out[:2]
