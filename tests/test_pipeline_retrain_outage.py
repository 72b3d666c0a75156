"""Kafka away from the retrainer (a metadata update or a request timed out, no broker answers, a connection
lost) is an outage, as it is to the daemon: retried with a backoff, logged once per change with the error,
counted in ``dhag_broker_failures_total{operation}``, named by ``/ready``, and after
``kafka.unavailable_exit_s`` the retrainer stops with exit code 3. Nothing is lost: nothing is committed
past what the label store holds, and what a failed poll had read is read again. A commit that fails (a
rebalance of its group's other members) leaves the label store's own positions to resume from."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import (
    BrokerNotAvailableError,
    CommitFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from prometheus_client import CollectorRegistry
from test_pipeline_retrain_refused import (
    BROKERS,
    LABEL,
    LABELS,
    READINGS,
    _Consumer,
    _Producer,
    _record,
    _resumes_from_the_store,
    _said,
)

from pipeline.config import Settings
from pipeline.errors import BrokerUnavailableError
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain import storepositions
from pipeline.retrain.service import Retrainer

FAILING = "kafka: failing for N s"


class _Clock:
    """A monotonic clock that the retrainer's waits move on (no test sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now


def _retrainer(
    monkeypatch, *, exit_s: float = 120.0
) -> tuple[Retrainer, LabelStore, CollectorRegistry, _Clock]:
    settings = Settings.model_validate(
        {
            "kafka": {"unavailable_exit_s": exit_s, "backoff_initial_s": 0.5, "backoff_max_s": 4.0},
            "retrain": {"group_id": "plant-7-retrainer", "on_drift": False},
        }
    )
    store, registry, clock = LabelStore(":memory:"), CollectorRegistry(), _Clock()
    retrainer = Retrainer(
        settings, store, RetrainMetrics(registry), bootstrap_servers=BROKERS, monotonic=clock
    )
    monkeypatch.setattr(retrainer, "_current_model", lambda level=logging.WARNING: ("v1", None, None))

    def wait(timeout: float | None = None) -> bool:
        clock.waits.append(float(timeout or 0.0))
        clock.now += timeout or 0.0
        return retrainer._stop.is_set()

    monkeypatch.setattr(retrainer._stop, "wait", wait)
    return retrainer, store, registry, clock


def _run(retrainer: Retrainer, monkeypatch, consumer: _Consumer, producer: _Producer | None = None) -> int:
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, producer or _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    return retrainer.run()


def _failures(registry: CollectorRegistry, operation: str) -> float | None:
    return registry.get_sample_value("dhag_broker_failures_total", {"operation": operation})


def _lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    said = [r.getMessage() for r in caplog.records if r.name.startswith("pipeline")]
    return [line for line in said if word in line]


@pytest.mark.parametrize(
    "error",
    [
        KafkaTimeoutError("Failed to update metadata after 30.0 secs."),
        BrokerNotAvailableError(),
        KafkaConnectionError("Connection at kafka-0:9093 closed"),
        RequestTimedOutError(),
    ],
    ids=["metadata-timeout", "broker-not-available", "connection", "request-timeout"],
)
def test_a_poll_failing_while_kafka_is_away_is_retried_with_backoff_and_loses_nothing(
    monkeypatch, caplog, error
) -> None:
    # Before, the error raised out of the loop: the retrainer crashed with a traceback and exit code 1.
    retrainer, store, registry, clock = _retrainer(monkeypatch)
    batch = {LABELS: [_record(LABELS, 7, LABEL)]}
    consumer = _Consumer(retrainer, [{}, error, error, error, batch, {}])
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer) == 0
    assert _said(consumer.ready) == ["ok", FAILING, "ok"]
    assert _failures(registry, "poll") == 3
    assert clock.waits == [0.5, 1.0, 2.0]  # a backoff, not a hot loop
    lines = _lines(caplog, "Kafka poll failed")
    assert len(lines) == 1, lines  # once per change, not once per retry
    assert type(error).__name__ in lines[0] or str(error) in lines[0]
    assert len(_lines(caplog, "Kafka reachable again")) == 1
    assert consumer.commits == [{"operator-labels": 8}]
    assert store.counts()["labels"] == 1
    assert storepositions.positions(store) == {"operator-labels/0": 8}


def test_kafka_away_for_unavailable_exit_s_stops_the_retrainer_with_the_brokers_exit_code(
    monkeypatch, caplog
) -> None:
    retrainer, _, registry, clock = _retrainer(monkeypatch, exit_s=10.0)
    consumer = _Consumer(retrainer, [KafkaTimeoutError("Failed to update metadata")] * 50)
    caplog.set_level(logging.INFO)
    with pytest.raises(BrokerUnavailableError, match="unavailable_exit_s"):
        _run(retrainer, monkeypatch, consumer)
    assert 10.0 <= clock.now - 1000.0 <= 10.0 + 4.0  # gave up once the limit passed, not before
    assert max(clock.waits) == 4.0  # capped at kafka.backoff_max_s
    assert _failures(registry, "poll") == len(clock.waits) + 1
    assert consumer.commits == []
    assert len(_lines(caplog, "Kafka poll failed")) == 1


def test_the_command_exits_with_code_3_when_kafka_stays_away(monkeypatch, tmp_path) -> None:
    from pipeline import cli
    from pipeline.retrain import command, service

    def run(self: Retrainer, *, once: bool = False) -> int:
        raise BrokerUnavailableError("Kafka at k:9092 unusable to the retrainer for 120s")

    monkeypatch.setattr(service.Retrainer, "run", run)
    monkeypatch.setattr("pipeline.topics.provision_topics", lambda *a, **k: None)
    monkeypatch.setattr("pipeline.registry.current", lambda registry: ("v1", Path(registry) / "v1.dhag"))
    (tmp_path / "registry").mkdir()
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092"},
            "model": {"registry": str(tmp_path / "registry")},
            "metrics": {"enabled": False},
        }
    )
    assert command.run_retrain(settings, once=False) == cli.EXIT_BROKER == 3


def test_a_batch_whose_handling_failed_on_kafka_is_read_again(monkeypatch) -> None:
    # A dead letter's send that cannot get the topic's metadata raises mid-poll: the poll's records
    # were taken from the consumer but not stored; they must be read again, not skipped.
    retrainer, store, registry, _ = _retrainer(monkeypatch)
    bad = {LABELS: [_record(LABELS, 7, b"{broken")]}
    producer = _Producer()
    real_send = producer.send
    calls: list[int] = []

    def send(topic: str, key=None, value=None, headers=None):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 1:
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        return real_send(topic, key, value, headers)

    producer.send = send  # type: ignore[method-assign]
    consumer = _Consumer(retrainer, [bad, bad, {}])
    assert _run(retrainer, monkeypatch, consumer, producer) == 0
    assert consumer.seeks == [("operator-labels", 7)]
    assert _failures(registry, "poll") == 1
    assert producer.sent == ["operator-labels.dlq"]
    assert consumer.commits == [{"operator-labels": 8}]
    assert storepositions.positions(store) == {"operator-labels/0": 8}


def test_commits_failing_after_a_rebalance_are_logged_once_and_the_store_keeps_what_was_read(
    monkeypatch, caplog
) -> None:
    retrainer, store, registry, _ = _retrainer(monkeypatch)
    first = {LABELS: [_record(LABELS, 7, LABEL)]}
    second = {READINGS: [_record(READINGS, 40, b"{}")]}
    third = {READINGS: [_record(READINGS, 41, b"{}")]}
    failed = CommitFailedError("the group has already rebalanced")
    consumer = _Consumer(retrainer, [first, second, third, {}], [failed, failed])
    caplog.set_level(logging.INFO)
    assert _run(retrainer, monkeypatch, consumer) == 0
    assert _failures(registry, "commit") == 2
    assert len(_lines(caplog, "offset commit failed")) == 1, _lines(caplog, "offset commit failed")
    assert len(_lines(caplog, "offset commits work again")) == 1
    assert consumer.commits == [{"sensor-readings": 42}]
    assert store.counts()["labels"] == 1
    _resumes_from_the_store(store)


def test_a_start_that_cannot_reach_kafka_is_retried_with_backoff(monkeypatch, caplog) -> None:
    # Before, a metadata timeout while taking its partitions crashed the start with a traceback.
    retrainer, store, registry, clock = _retrainer(monkeypatch)
    consumer = _Consumer(retrainer, [{LABELS: [_record(LABELS, 7, LABEL)]}, {}])
    tries: list[int] = []

    def assign(c: object) -> list[TopicPartition]:
        tries.append(1)
        if len(tries) < 3:
            raise KafkaTimeoutError("Failed to update metadata after 30.0 secs.")
        return [LABELS, READINGS]

    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", assign)
    caplog.set_level(logging.INFO)
    assert retrainer.run() == 0
    assert _failures(registry, "connect") == 2
    assert clock.waits[:2] == [0.5, 1.0]
    assert len(_lines(caplog, "Kafka connect failed")) == 1
    assert store.counts()["labels"] == 1


def test_empty_polls_with_no_broker_connected_are_an_outage(monkeypatch) -> None:
    # kafka-python's poll returns nothing while no broker answers: the daemon's connection check
    # tells that from a quiet topic, and so does the retrainer's.
    retrainer, _, registry, clock = _retrainer(monkeypatch)
    consumer = _Consumer(retrainer, [{}, {}, {}, {}])
    up = {"now": False}
    brokers = [SimpleNamespace(node_id=0)]
    consumer._client = SimpleNamespace(  # type: ignore[attr-defined]
        cluster=SimpleNamespace(brokers=lambda: brokers), connected=lambda node: up["now"]
    )
    real_poll = consumer.poll

    def poll(timeout_ms: int = 0) -> dict:
        clock.now += 1.0  # a poll's wait
        if len(consumer.ready) == 3:
            up["now"] = True
        return real_poll(timeout_ms)

    consumer.poll = poll  # type: ignore[method-assign]
    assert _run(retrainer, monkeypatch, consumer) == 0
    assert _failures(registry, "connection") == 3  # the three polls before a broker answered
    assert _said(consumer.ready) == ["ok", FAILING, "ok"]


def test_a_refusal_is_no_outage_and_does_not_stop_the_retrainer(monkeypatch) -> None:
    retrainer, _, registry, _ = _retrainer(monkeypatch, exit_s=1.0)
    refused = TopicAuthorizationFailedError({"operator-labels"})
    consumer = _Consumer(retrainer, [KafkaTimeoutError("metadata"), *[refused] * 6, {}])
    assert _run(retrainer, monkeypatch, consumer) == 0  # refused past the limit: retried on
    assert _failures(registry, "poll") == 7  # every failure, refusals too (as the daemon counts them)


def test_the_retrainer_exports_its_broker_failures_at_zero_from_the_start() -> None:
    registry = CollectorRegistry()
    RetrainMetrics(registry)
    for operation in ("connect", "connection", "poll", "commit"):
        assert _failures(registry, operation) == 0


def test_the_daemons_rules_on_broker_failures_read_no_operation_the_retrainer_fails() -> None:
    # Both export dhag_broker_failures_total: a rule meant for the daemons (DhagOutputRefused on produce,
    # DhagConsumerReplaced on stalled|join) must not fire on the retrainer's failures. A rule of the
    # retrainer's own (DhagRetrainerKafkaUnreachable) reads them only beside its marker series.
    import re
    from pathlib import Path

    import yaml

    from pipeline.retrainmetrics import RETRAINER_FAILED_OPERATIONS

    rules = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "rules"
    read = []
    for path in sorted(rules.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for selector in re.findall(r"dhag_broker_failures_total(\{[^}]*\})?", rule["expr"]):
                    read.append((path.name, rule.get("alert") or rule.get("record"), rule["expr"], selector))
    assert read
    for file, name, expr, selector in read:
        matcher = re.search(r'operation(=~?)"([^"]*)"', selector)
        assert matcher is not None, f"{name} reads every operation's failures: {selector or '(none)'}"
        pattern = matcher.group(2) if matcher.group(1) == "=~" else re.escape(matcher.group(2))
        if [op for op in RETRAINER_FAILED_OPERATIONS if re.fullmatch(pattern, op)]:
            assert file == "dhag-retrain.yml", f"{name} ({file}) reads the retrainer's {selector}"
            guards = expr.count("and on (namespace, job, instance) dhag_retrain_started_timestamp_seconds")
            assert guards >= expr.count(selector), f"{name} reads {selector} of the daemons too"
