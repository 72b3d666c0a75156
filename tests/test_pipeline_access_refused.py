"""Kafka refusing the daemon on a live connection (an ACL revoked, credentials rotated under it) is told
apart from Kafka being away: /ready names the refusal, the log says once what to check, and
``dhag_broker_refusals_total`` counts it; the daemon retries as in any outage and commits nothing past
what was not delivered."""

from __future__ import annotations

import logging
import re
import types

import pytest
from kafka import TopicPartition
from kafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from kafka.future import Future
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.delivery import DeliveryError
from pipeline.metrics import PipelineMetrics
from pipeline.probes import Probes
from pipeline.processing import BatchProcessor

TP = TopicPartition("sensor-readings", 0)
BROKERS = "kafka-0.plant.internal:9093"
PASSWORD = "s3cret-pw"  # noqa: S105 - a test's
SECRETS = ("kafka-0", "9093", "plant-7", "sensor-readings", "anomaly-alerts", PASSWORD)


class _Consumer:
    """Each poll takes ``step_s`` and plays the next of ``script``: an exception raised, or a batch
    returned; when the script is done the daemon is asked to stop. ``seen`` gets /ready's answer at
    every poll (what the probe said after the turn before)."""

    def __init__(self, daemon: Daemon, clock: list[float], script: list, probes: Probes) -> None:
        self.daemon, self.clock, self.script, self.probes = daemon, clock, list(script), probes
        self.seen: list[tuple[int, str]] = []
        self.commits: list[dict] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.clock[0] += 3.0
        self.seen.append(self.probes.answer("/ready"))
        if not self.script:
            self.daemon._stop.set()
            return {}
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def paused(self) -> set[TopicPartition]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: 101 for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return 101

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def highwater(self, tp: TopicPartition) -> int:
        return 101

    def commit(self, offsets: dict, timeout_ms: int) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


class _Producer:
    """Acknowledges every send, except to the topics in ``refused`` (their futures fail with the error
    kafka-python's sender gives an ACL refusal: the topic's name as its argument)."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.sent: list[str] = []

    def send(self, topic: str, key: bytes, value: bytes, headers: object) -> Future:
        if topic in self.refused:
            return Future().failure(TopicAuthorizationFailedError(topic))
        self.sent.append(topic)
        return Future().success(None)

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


def _daemon(fitted, monkeypatch, clock: list[float]) -> tuple[Daemon, PipelineMetrics, Probes]:
    monkeypatch.setattr("pipeline.daemon.time.monotonic", lambda: clock[0])  # the time module's
    settings = Settings.model_validate(
        {
            "kafka": {
                "group_id": "plant-7-scorers",
                "unavailable_exit_s": 3600.0,
                "security": {
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "PLAIN",
                    "sasl_plain_username": "dhag",
                    "sasl_plain_password": PASSWORD,
                },
            }
        }
    )
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers=BROKERS
    )
    monkeypatch.setattr(daemon.health._backoff, "next_delay", lambda: 0.0)
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("no stall in an outage"))
    daemon._joined = True  # in its group: ready but for Kafka
    probes = Probes()
    probes.attach(ready=daemon.not_ready, live=daemon.not_live)
    return daemon, metrics, probes


def _unprocessable(offset: int) -> types.SimpleNamespace:
    """A record that is not JSON: its only output is a dead letter."""
    return types.SimpleNamespace(
        topic=TP.topic,
        partition=0,
        offset=offset,
        key=b"pump-1",
        value=b"{not json",
        timestamp=None,
        headers=[],
    )


def _refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "pipeline.daemon" and "refused" in r.getMessage()
    ]


def _refused(metrics: PipelineMetrics, operation: str, kind: str) -> float | None:
    return metrics.registry.get_sample_value(
        "dhag_broker_refusals_total", {"operation": operation, "kind": kind}
    )


def _said(seen: list[tuple[int, str]]) -> list[str]:
    """/ready's answers, the seconds left out, each change once."""
    said: list[str] = []
    for _, body in seen:
        text = re.sub(r"for \d+ s", "for N s", body)
        if not said or said[-1] != text:
            said.append(text)
    return said


def test_dead_letters_refused_by_an_acl_are_named_counted_logged_once_and_retried_uncommitted(
    fitted, monkeypatch, caplog
) -> None:
    clock = [10_000.0]
    daemon, metrics, probes = _daemon(fitted, monkeypatch, clock)
    producer = _Producer(refused={"sensor-readings.dlq"})
    daemon.delivery.producer = producer  # type: ignore[assignment]
    monkeypatch.setattr(daemon.delivery, "connect", lambda: setattr(daemon.delivery, "producer", producer))
    batch = {TP: [_unprocessable(100)]}
    consumer = _Consumer(daemon, clock, [batch, batch, batch], probes)
    daemon.consumer = consumer  # type: ignore[assignment]
    real_poll = consumer.poll

    def poll(timeout_ms: int, max_records: int) -> dict:
        if len(consumer.seen) == 3:  # the ACL granted again: the batch read again is delivered
            producer.refused.clear()
            consumer.script.append(batch)
        return real_poll(timeout_ms, max_records)

    consumer.poll = poll  # type: ignore[method-assign]
    caplog.set_level(logging.INFO)
    daemon._loop()

    assert consumer.commits[:-1] == [] and consumer.commits[-1] == {TP: 101}  # only once delivered
    assert producer.sent == ["sensor-readings.dlq"]
    assert _said(consumer.seen) == [
        "ok",
        "kafka: not authorised to write the dead-letter topic for N s",
        "ok",
    ]
    assert _refused(metrics, "produce", "authorisation") == 3
    assert metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "produce"}) == 3
    lines = _refusal_lines(caplog)
    assert len(lines) == 1, lines  # once per change, not once per retry
    assert "produce" in lines[0] and "'sensor-readings.dlq'" in lines[0]
    assert "Write" in lines[0] and "ACL" in lines[0] and PASSWORD not in lines[0]
    for _, body in consumer.seen:
        assert not any(secret in body for secret in SECRETS), body


@pytest.mark.parametrize(
    ("error", "said", "kind", "check"),
    [
        (
            GroupAuthorizationFailedError("plant-7-scorers"),
            "kafka: not authorised to use the consumer group for N s",
            "authorisation",
            "'plant-7-scorers'",
        ),
        (
            SaslAuthenticationFailedError("Authentication failed: Invalid username or password"),
            "kafka: authentication refused for N s",
            "authentication",
            "kafka.security.sasl_plain_password",
        ),
        (
            TopicAuthorizationFailedError({"sensor-readings"}),
            "kafka: not authorised to read the input topic for N s",
            "authorisation",
            "'sensor-readings'",
        ),
    ],
    ids=["group-acl", "credentials-rotated", "input-acl"],
)
def test_polls_refused_are_named_on_ready_counted_logged_once_and_clear_when_polls_work(
    fitted, monkeypatch, caplog, error, said, kind, check
) -> None:
    clock = [10_000.0]
    daemon, metrics, probes = _daemon(fitted, monkeypatch, clock)
    consumer = _Consumer(daemon, clock, [error, error, error, {}, {}], probes)
    daemon.consumer = consumer  # type: ignore[assignment]
    caplog.set_level(logging.INFO)
    daemon._loop()
    assert _said(consumer.seen) == ["ok", said, "ok"]
    assert _refused(metrics, "poll", kind) == 3
    assert metrics.registry.get_sample_value("dhag_broker_connected") == 1
    lines = _refusal_lines(caplog)
    assert len(lines) == 1, lines
    assert "poll" in lines[0] and check in lines[0] and PASSWORD not in lines[0]
    for _, body in consumer.seen:
        assert not any(secret in body for secret in SECRETS), body


def test_a_producer_rebuilt_with_rotated_credentials_is_an_authentication_refusal(
    fitted, monkeypatch, caplog
) -> None:
    # The producer given up after a failed delivery is rebuilt for the next one: kafka-python raises the
    # broker's refusal from its constructor, which before read as one more produce outage.
    clock = [10_000.0]
    daemon, metrics, probes = _daemon(fitted, monkeypatch, clock)
    producer = _Producer(refused=set())
    rotated = [True]

    def connect() -> None:
        if rotated[0]:
            raise SaslAuthenticationFailedError(
                "Authentication failed during authentication due to invalid credentials"
            )
        daemon.delivery.producer = producer  # type: ignore[assignment]

    monkeypatch.setattr(daemon.delivery, "connect", connect)
    batch = {TP: [_unprocessable(100)]}
    consumer = _Consumer(daemon, clock, [batch, batch], probes)
    daemon.consumer = consumer  # type: ignore[assignment]
    real_poll = consumer.poll

    def poll(timeout_ms: int, max_records: int) -> dict:
        if len(consumer.seen) == 2:
            rotated[0] = False  # the secret updated: the next producer authenticates
            consumer.script.append(batch)
        return real_poll(timeout_ms, max_records)

    consumer.poll = poll  # type: ignore[method-assign]
    caplog.set_level(logging.INFO)
    daemon._loop()
    assert _said(consumer.seen) == ["ok", "kafka: authentication refused for N s", "ok"]
    assert _refused(metrics, "produce", "authentication") == 2
    assert consumer.commits == [{TP: 101}]
    lines = _refusal_lines(caplog)
    assert len(lines) == 1 and "kafka.security.sasl_plain_username" in lines[0], lines


def test_a_refusal_followed_by_an_unreachable_broker_reads_as_an_outage_again(fitted, monkeypatch) -> None:
    clock = [10_000.0]
    daemon, _, probes = _daemon(fitted, monkeypatch, clock)
    refused, away = GroupAuthorizationFailedError("plant-7-scorers"), KafkaTimeoutError("no answer")
    consumer = _Consumer(daemon, clock, [refused, away, {}], probes)
    daemon.consumer = consumer  # type: ignore[assignment]
    daemon._loop()
    assert _said(consumer.seen) == [
        "ok",
        "kafka: not authorised to use the consumer group for N s",
        "kafka: failing for N s",
        "ok",
    ]


def test_a_carry_over_read_refused_is_counted_and_logged_with_the_acl_to_grant(
    fitted, monkeypatch, caplog
) -> None:
    def read(kafka, bootstrap, *, since, timeout_s, on_event, stopping):  # noqa: ANN001, ANN202
        raise TopicAuthorizationFailedError({"anomaly-alerts"})

    monkeypatch.setattr("pipeline.rebalance.read_alert_events", read)
    clock = [10_000.0]
    daemon, metrics, probes = _daemon(fitted, monkeypatch, clock)
    daemon.consumer = _Consumer(daemon, clock, [], probes)  # type: ignore[assignment]
    caplog.set_level(logging.INFO)
    daemon._on_assigned({TP})
    daemon._apply_rebalances()
    assert _refused(metrics, "carry_over", "authorisation") == 1
    assert metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "carry_over"}) == 1
    lines = _refusal_lines(caplog)
    assert len(lines) == 1 and "'anomaly-alerts'" in lines[0] and "Read" in lines[0], lines
    assert daemon.not_ready() is None  # scoring goes on without the episodes: no outage


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TopicAuthorizationFailedError("anomaly-alerts"), ("authorisation", "topic", ("anomaly-alerts",))),
        (TopicAuthorizationFailedError({"b", "a"}), ("authorisation", "topic", ("a", "b"))),
        (GroupAuthorizationFailedError("g1"), ("authorisation", "group", ("g1",))),
        (GroupAuthorizationFailedError(), ("authorisation", "group", ())),
        (
            ClusterAuthorizationFailedError("The producer is not authorized to do idempotent sends"),
            ("authorisation", "cluster", ()),
        ),
        (SaslAuthenticationFailedError("bad"), ("authentication", "credentials", ())),
    ],
)
def test_kafka_pythons_refusals_are_classified_with_what_they_name(error, expected) -> None:
    from pipeline.refusals import refusal_of

    try:
        try:
            raise error
        except Exception as exc:
            raise DeliveryError("1 of 1 messages not acknowledged") from exc
    except DeliveryError as wrapped:
        found = refusal_of(wrapped)
    assert found is not None and (found.kind, found.resource, found.names) == expected


@pytest.mark.parametrize(
    "error",
    [KafkaTimeoutError("no answer"), ConnectionError("no connection to any broker"), DeliveryError("x")],
)
def test_other_failures_are_no_refusal(error: BaseException) -> None:
    from pipeline.refusals import refusal_of

    assert refusal_of(error) is None


def test_the_idle_connection_check_does_not_hide_a_refusal_that_left_no_connection(
    fitted, monkeypatch
) -> None:
    # Credentials refused on reconnect leave the consumer without a connection: the idle check's
    # "no connection to any broker" says nothing new, and /ready flipped between the two each turn.
    clock = [10_000.0]
    daemon, _, _ = _daemon(fitted, monkeypatch, clock)
    daemon.consumer = object()  # type: ignore[assignment]
    disconnected = types.SimpleNamespace(
        _client=types.SimpleNamespace(
            cluster=types.SimpleNamespace(brokers=lambda: [types.SimpleNamespace(node_id=0)]),
            connected=lambda node_id: False,
        )
    )
    daemon.health.failure("poll", SaslAuthenticationFailedError("Invalid username or password"))
    clock[0] += 2.0
    daemon.health.check(disconnected)  # type: ignore[arg-type]
    assert [r.text() for r in daemon.not_ready() or []] == ["kafka: authentication refused for 2 s"]
