"""Kafka refusing the retrainer (credentials rotated, an ACL revoked on one of its topics or its group)
is told apart from Kafka being away: its log says once which operation, which topic or group, and which
ACL or ``kafka.security`` setting to check, ``dhag_broker_refusals_total`` counts it, ``/ready`` names
it; it retries, and what it could not read, store or commit is read again from the label store's own
positions."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from kafka.producer.future import FutureProduceResult
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.errors import BrokerUnavailableError, ConfigError
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain import storepositions
from pipeline.retrain.service import Retrainer

LABELS = TopicPartition("operator-labels", 0)
READINGS = TopicPartition("sensor-readings", 0)
PASSWORD = "s3cret-pw"  # noqa: S105 - a test's
BROKERS = "kafka-0.plant.internal:9093"
SECRETS = ("kafka-0", "9093", "plant-7", "operator-labels", "sensor-readings", PASSWORD)
LABEL = json.dumps(
    {"asset_id": "pump-1", "ts": 5.0, "values": {"x": 1.0}, "label": "normal", "operator": "kim"}
).encode()


class _Consumer:
    """Each poll plays the next of ``script`` (an exception raised, or a batch returned) and first notes
    what ``/ready`` says; when the script is done the retrainer is asked to stop. ``commit_errors`` are
    raised by the commits, one each, before commits work."""

    def __init__(self, retrainer: Retrainer, script: list, commit_errors: list | None = None) -> None:
        self.retrainer, self.script, self.commit_errors = retrainer, list(script), list(commit_errors or [])
        self.ready: list[str] = []
        self.commits: list[dict] = []
        self.seeks: list[tuple[str, int]] = []

    def poll(self, timeout_ms: int = 0) -> dict:
        reasons = self.retrainer.not_ready()
        self.ready.append("ok" if reasons is None else "; ".join(r.text() for r in reasons))
        if not self.script:
            self.retrainer.request_stop()
            return {}
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def commit(self, offsets: dict) -> None:
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.commits.append({tp.topic: meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return {LABELS, READINGS}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.topic, offset))

    def close(self, *args: object, **kwargs: object) -> None:
        pass


class _Producer:
    """Sends fail, as kafka-python's sender fails them for a topic an ACL refuses, while ``refused``."""

    def __init__(self, refused: bool = False) -> None:
        self.refused, self.sent = refused, []

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        future = FutureProduceResult(TopicPartition(topic, 0))
        if self.refused:
            future.failure(TopicAuthorizationFailedError(topic))
        else:
            future.success((0, 0))
            self.sent.append(topic)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, *args: object, **kwargs: object) -> None:
        pass


def _retrainer(monkeypatch) -> tuple[Retrainer, LabelStore, CollectorRegistry]:
    settings = Settings.model_validate(
        {
            "kafka": {
                "security": {
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "PLAIN",
                    "sasl_plain_username": "dhag-retrainer",
                    "sasl_plain_password": PASSWORD,
                },
            },
            "retrain": {"group_id": "plant-7-retrainer", "on_drift": False},
        }
    )
    store, registry = LabelStore(":memory:"), CollectorRegistry()
    retrainer = Retrainer(settings, store, RetrainMetrics(registry), bootstrap_servers=BROKERS)
    monkeypatch.setattr(retrainer, "_current_model", lambda level=logging.WARNING: ("v1", None, None))
    monkeypatch.setattr(retrainer._refusal_backoff, "next_delay", lambda: 0.0)
    return retrainer, store, registry


def _run(retrainer: Retrainer, monkeypatch, consumer: _Consumer, producer: _Producer) -> int:
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, producer))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    return retrainer.run()


def _record(tp: TopicPartition, offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"k", value=value)


def _said(ready: list[str]) -> list[str]:
    said: list[str] = []
    for body in ready:
        text = re.sub(r"for -?\d+ s", "for N s", body)
        if not said or said[-1] != text:
            said.append(text)
    return said


def _lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name.startswith("pipeline") and word in r.getMessage()
    ]


def _refused(registry: CollectorRegistry, operation: str, kind: str) -> float | None:
    return registry.get_sample_value("dhag_broker_refusals_total", {"operation": operation, "kind": kind})


def _mended_at(consumer: _Consumer, turn: int, mend: Callable[[], None]) -> None:
    """``mend`` (an ACL granted again, a leader back) runs before the consumer's poll number ``turn``."""
    real_poll = consumer.poll

    def poll(timeout_ms: int = 0) -> dict:
        if len(consumer.ready) == turn:
            mend()
        return real_poll(timeout_ms)

    consumer.poll = poll  # type: ignore[method-assign]


def _backoffs(monkeypatch, retrainer: Retrainer) -> list[int]:
    """One entry per backoff the retrainer waits between turns (each of no time here)."""
    waits: list[int] = []
    monkeypatch.setattr(retrainer._refusal_backoff, "next_delay", lambda: waits.append(1) or 0.0)
    return waits


def _resumes_from_the_store(store: LabelStore) -> None:
    """A restart resumes from the label store's own positions (labels 8, readings 42), not from the
    group's offsets (3) that failed commits left behind."""
    assert storepositions.positions(store) == {"operator-labels/0": 8, "sensor-readings/0": 42}
    group = SimpleNamespace(
        committed=lambda tp: 3,
        beginning_offsets=lambda parts: dict.fromkeys(parts, 0),
        end_offsets=lambda parts: dict.fromkeys(parts, 50),
    )
    starts = storepositions.resume(store, group, [LABELS, READINGS], "plant-7-retrainer")  # type: ignore[arg-type]
    assert starts == {LABELS: 8, READINGS: 42}


@pytest.mark.parametrize(
    ("error", "said", "kind", "check"),
    [
        (
            TopicAuthorizationFailedError({"operator-labels"}),
            "kafka: not authorised to read the labels topic for N s",
            "authorisation",
            "Read and Describe on topic 'operator-labels'",
        ),
        (
            TopicAuthorizationFailedError({"sensor-readings"}),
            "kafka: not authorised to read the input topic for N s",
            "authorisation",
            "Read and Describe on topic 'sensor-readings'",
        ),
        (
            SaslAuthenticationFailedError("Authentication failed: Invalid username or password"),
            "kafka: authentication refused for N s",
            "authentication",
            "kafka.security.sasl_plain_password",
        ),
    ],
    ids=["labels-acl", "readings-acl", "credentials-rotated"],
)
def test_polls_refused_while_it_runs_are_named_counted_logged_once_retried_and_lose_nothing(
    monkeypatch, caplog, error, said, kind, check
) -> None:
    # Before, the refusal raised out of the loop: the retrainer crashed with a traceback.
    retrainer, store, registry = _retrainer(monkeypatch)
    batch = {LABELS: [_record(LABELS, 7, LABEL)]}
    consumer = _Consumer(retrainer, [{}, error, error, error, batch, {}])
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer, _Producer()) == 0
    assert _said(consumer.ready) == ["ok", said, "ok"]
    assert _refused(registry, "poll", kind) == 3
    lines = _lines(caplog, "Kafka refused")
    assert len(lines) == 1, lines  # once per change, not once per retry
    assert "poll" in lines[0] and check in lines[0] and PASSWORD not in lines[0]
    assert len(_lines(caplog, "no longer refuses the retrainer's poll")) == 1
    # What was refused is read once Kafka accepts again: nothing committed before, nothing lost.
    assert consumer.commits == [{"operator-labels": 8}]
    assert store.counts()["labels"] == 1
    assert storepositions.positions(store) == {"operator-labels/0": 8}
    for body in consumer.ready:
        assert not any(secret in body for secret in SECRETS), body


def test_commits_refused_by_the_groups_acl_are_named_once_and_the_store_keeps_what_was_read(
    monkeypatch, caplog
) -> None:
    # Before, each poll logged "offset commit failed" as an outage would, naming no ACL.
    retrainer, store, registry = _retrainer(monkeypatch)
    first = {LABELS: [_record(LABELS, 7, LABEL)]}
    second = {READINGS: [_record(READINGS, 40, b"{}")]}
    third = {READINGS: [_record(READINGS, 41, b"{}")]}
    consumer = _Consumer(retrainer, [first, second, third, {}], [GroupAuthorizationFailedError()] * 2)
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer, _Producer()) == 0
    assert _refused(registry, "commit", "authorisation") == 2
    assert _said(consumer.ready) == ["ok", "kafka: not authorised to use the consumer group for N s", "ok"]
    lines = _lines(caplog, "Kafka refused")
    assert len(lines) == 1, lines
    assert "commit" in lines[0] and "Read on group 'plant-7-retrainer'" in lines[0]
    assert "User:dhag-retrainer" in lines[0] and not _lines(caplog, "offset commit failed")
    assert len(_lines(caplog, "no longer refuses the retrainer's commit")) == 1
    assert consumer.commits == [{"sensor-readings": 42}]  # the label's commit was refused
    # The store took in every poll with its own positions: a restart resumes from them, not from the
    # group's offsets the refused commits left behind.
    assert store.counts()["labels"] == 1
    _resumes_from_the_store(store)


def test_label_dead_letters_refused_by_an_acl_are_named_once_and_sent_again_uncommitted(
    monkeypatch, caplog
) -> None:
    retrainer, _, registry = _retrainer(monkeypatch)
    producer = _Producer(refused=True)
    bad = {LABELS: [_record(LABELS, 7, b"{broken")]}
    consumer = _Consumer(retrainer, [bad, bad, bad])
    # The ACL granted again before the third poll: the label read again is delivered.
    _mended_at(consumer, 2, lambda: setattr(producer, "refused", False))
    waits = _backoffs(monkeypatch, retrainer)
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer, producer) == 0
    assert _refused(registry, "produce", "authorisation") == 2
    assert len(waits) == 2  # backed off after each refused turn, not re-read at once
    assert consumer.commits == [{"operator-labels": 8}]  # only once its dead letter was delivered
    assert producer.sent == ["operator-labels.dlq"]
    lines = _lines(caplog, "Kafka refused")
    assert len(lines) == 1, lines
    assert "produce" in lines[0] and "Write and Describe on topic 'operator-labels.dlq'" in lines[0]
    assert not _lines(caplog, "not acknowledged by Kafka")  # the refusal said it, once
    assert _said(consumer.ready) == [
        "ok",
        "kafka: not authorised to write the labels' dead-letter topic for N s",
        "ok",
    ]


def test_a_refusal_at_start_stops_it_with_a_configuration_error_naming_the_acl(monkeypatch, caplog) -> None:
    # Before, the group's refusal of committed() raised out of run() with a traceback.
    retrainer, _, registry = _retrainer(monkeypatch)
    consumer = _Consumer(retrainer, [])
    consumer.partitions_for_topic = lambda topic: {0}  # type: ignore[attr-defined]
    consumer.assign = lambda parts: None  # type: ignore[attr-defined]

    def committed(tp: TopicPartition) -> int:
        raise GroupAuthorizationFailedError("plant-7-retrainer")

    consumer.committed = committed  # type: ignore[attr-defined]
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    caplog.set_level(logging.INFO)
    with pytest.raises(ConfigError, match="Read on group 'plant-7-retrainer'"):
        retrainer.run()
    assert _refused(registry, "connect", "authorisation") == 1
    assert len(_lines(caplog, "Kafka refused")) == 1


def test_a_one_off_catch_up_refused_throughout_gives_up_naming_the_refusal(monkeypatch) -> None:
    retrainer, _, registry = _retrainer(monkeypatch)
    error = TopicAuthorizationFailedError({"operator-labels"})
    consumer = _Consumer(retrainer, [error] * 50)
    consumer.end_offsets = lambda parts: dict.fromkeys(parts, 0)  # type: ignore[attr-defined]
    retrainer._consumer, retrainer._producer = consumer, _Producer()  # type: ignore[assignment]
    retrainer._parts = [LABELS]
    with pytest.raises(BrokerUnavailableError, match="not authorised to read the labels topic"):
        retrainer.catch_up(timeout_s=0.0)
    assert _refused(registry, "poll", "authorisation") == 1


def test_the_retrainer_exports_its_refusals_at_zero_from_the_start() -> None:
    registry = CollectorRegistry()
    RetrainMetrics(registry)
    for operation in ("connect", "poll", "produce", "commit"):
        for kind in ("authentication", "authorisation"):
            assert _refused(registry, operation, kind) == 0
