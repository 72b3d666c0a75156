"""Kafka refusing the retrainer's poll leaves its consumer without a connection (a refused handshake
closes it, and kafka-python skips its fetches during the reconnect backoff): the empty polls between the
refused ones are part of the refusal, not its end nor an outage, so the log says it once and ``/ready``
stays on it until Kafka accepts the poll again."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from kafka.errors import SaslAuthenticationFailedError, TopicAuthorizationFailedError
from prometheus_client import CollectorRegistry
from test_pipeline_retrain_refused import (
    BROKERS,
    LABEL,
    LABELS,
    READINGS,
    _Consumer,
    _Producer,
    _record,
    _said,
)

from pipeline.config import Settings
from pipeline.errors import BrokerUnavailableError
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

DOWN, UP = False, True


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _retrainer(monkeypatch, exit_s: float = 120.0) -> tuple[Retrainer, CollectorRegistry, _Clock]:
    settings = Settings.model_validate(
        {
            "kafka": {
                "unavailable_exit_s": exit_s,
                "backoff_max_s": 4.0,
                "security": {
                    "security_protocol": "SASL_SSL",
                    "sasl_mechanism": "PLAIN",
                    "sasl_plain_username": "dhag-retrainer",
                    "sasl_plain_password": "pw",
                },
            },
            "retrain": {"group_id": "plant-7-retrainer", "on_drift": False},
        }
    )
    registry, clock = CollectorRegistry(), _Clock()
    retrainer = Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(registry), bootstrap_servers=BROKERS, monotonic=clock
    )
    monkeypatch.setattr(retrainer, "_current_model", lambda level=logging.WARNING: ("v1", None, None))

    def wait(timeout: float | None = None) -> bool:  # a backoff: the clock moves on, no test sleeps
        clock.now += timeout or 0.0
        return retrainer._stop.is_set()

    monkeypatch.setattr(retrainer._stop, "wait", wait)
    return retrainer, registry, clock


def _consumer(retrainer: Retrainer, clock: _Clock, script: list[tuple[object, bool, float]]) -> _Consumer:
    """Each step: what the poll plays, whether a broker is connected during it, the seconds it takes."""
    consumer = _Consumer(retrainer, [step for step, _, _ in script])
    turns = [(up, took) for _, up, took in script]
    link = {"up": UP}
    brokers = [SimpleNamespace(node_id=0)]
    consumer._client = SimpleNamespace(  # type: ignore[attr-defined]
        cluster=SimpleNamespace(brokers=lambda: brokers), connected=lambda node: link["up"]
    )
    real_poll = consumer.poll

    def poll(timeout_ms: int = 0) -> dict:
        if turns:
            link["up"], took = turns.pop(0)
            clock.now += took
        return real_poll(timeout_ms)

    consumer.poll = poll  # type: ignore[method-assign]
    return consumer


def _lines(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name.startswith("pipeline") and word in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("error", "said", "kind"),
    [
        (
            SaslAuthenticationFailedError("Authentication failed"),
            "kafka: authentication refused for N s",
            "authentication",
        ),
        (
            TopicAuthorizationFailedError({"operator-labels"}),
            "kafka: not authorised to read the labels topic for N s",
            "authorisation",
        ),
    ],
    ids=["credentials", "acl"],
)
@pytest.mark.parametrize("recovery", ["records", "connected"])
@pytest.mark.parametrize("poll_s", [1.0, 0.0], ids=["checked", "within-a-check"])
def test_empty_polls_without_a_connection_between_refused_ones_keep_the_refusal(
    monkeypatch, caplog, error, said, kind, recovery, poll_s
) -> None:
    # Before, each empty poll ended the refusal ("Kafka no longer refuses the retrainer's poll") and,
    # its connection check finding none, began an outage: /ready flipped between the refusal and
    # "kafka: failing", and the log repeated both for one steady cause.
    retrainer, registry, clock = _retrainer(monkeypatch)
    if not poll_s:  # every empty poll of the refusal within a second of the last connection check
        monkeypatch.setattr(retrainer._refusal_backoff, "next_delay", lambda: 0.0)
    back = {LABELS: [_record(LABELS, 7, LABEL)]} if recovery == "records" else {}
    script = [({}, UP, 1.0)]
    for _ in range(4):
        script += [(error, DOWN, poll_s), ({}, DOWN, poll_s), ({}, DOWN, poll_s)]
    script += [(back, UP, 1.0), ({}, UP, 1.0)]  # Kafka accepts the retrainer again
    consumer = _consumer(retrainer, clock, script)
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    assert retrainer.run() == 0
    assert _said(consumer.ready) == ["ok", said, "ok"]
    assert len(_lines(caplog, "Kafka refused")) == 1
    assert len(_lines(caplog, "no longer refuses the retrainer's poll")) == 1
    assert not _lines(caplog, "Kafka connection failed") and not _lines(caplog, "reachable again")
    assert registry.get_sample_value("dhag_broker_refusals_total", {"operation": "poll", "kind": kind}) == 4
    # The polls whose check found no connection are still counted as failures (the alert rules leave
    # them to DhagRetrainerAccessRefused while refusals are counted); within a second, none was checked.
    connection = registry.get_sample_value("dhag_broker_failures_total", {"operation": "connection"})
    assert connection == (8 if poll_s else 0)


def test_empty_polls_without_a_connection_and_no_refusal_are_still_an_outage(monkeypatch, caplog) -> None:
    retrainer, _, clock = _retrainer(monkeypatch)
    consumer = _consumer(retrainer, clock, [({}, UP, 1.0), ({}, DOWN, 1.0), ({}, DOWN, 1.0), ({}, UP, 1.0)])
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    assert retrainer.run() == 0
    assert _said(consumer.ready) == ["ok", "kafka: failing for N s", "ok"]
    assert len(_lines(caplog, "Kafka connection failed")) == 1
    assert len(_lines(caplog, "reachable again")) == 1
    assert not _lines(caplog, "refuse")


def test_a_refusal_not_heard_of_again_while_no_broker_is_connected_becomes_an_outage(
    monkeypatch, caplog
) -> None:
    # Refused, then the brokers gone: the refusal held by polls with no connection lapses once no
    # refused poll came for kafka.unavailable_exit_s, and the outage then stops it (exit code 3).
    retrainer, _, clock = _retrainer(monkeypatch, exit_s=10.0)
    error = SaslAuthenticationFailedError("Authentication failed")
    consumer = _consumer(retrainer, clock, [({}, UP, 1.0), (error, DOWN, 1.0), *[({}, DOWN, 1.0)] * 60])
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    with pytest.raises(BrokerUnavailableError, match="unavailable_exit_s"):
        retrainer.run()
    assert 1002.0 + 20.0 <= clock.now <= 1002.0 + 20.0 + 4.0 + 1.0
    assert _said(consumer.ready) == ["ok", "kafka: authentication refused for N s", "kafka: failing for N s"]
    assert len(_lines(caplog, "Kafka refused")) == 1
    assert len(_lines(caplog, "Kafka connection failed")) == 1
    assert not _lines(caplog, "no longer refuses")  # nothing said it was accepted
