"""``alerts`` and ``label`` against a broker that refuses the client's credentials: a config error
(exit 2) naming the security settings, not an unreachable broker (exit 3)."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest
from kafka.errors import SaslAuthenticationFailedError

from pipeline import alertscmd, consoletopics
from pipeline.config import Settings

SECRET = "s3cret-pw"


def _settings() -> Settings:
    return Settings(
        kafka={
            "security": {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "dhag",
                "sasl_plain_password": SECRET,
            }
        }
    )


class _Refused:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise SaslAuthenticationFailedError("Authentication failed: Invalid username or password")


class _LabelsTopicThere:
    """An admin client that finds the labels topic (the retrainer created it)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def list_topics(self) -> list[str]:
        return ["operator-labels"]

    def close(self) -> None:
        pass


def _args(add, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def _assert_config_error(code: int, err: io.StringIO) -> None:
    text = err.getvalue()
    assert code == alertscmd.EXIT_REFUSED == 2
    assert "refused the client's authentication" in text and "kafka.security.sasl_plain_username" in text
    assert "cannot reach" not in text and "cannot read" not in text
    assert SECRET not in text


def test_alerts_with_refused_credentials_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _Refused)
    err = io.StringIO()
    args = _args(alertscmd.add_alerts_arguments, ["--bootstrap", "k:9092"])
    _assert_config_error(alertscmd.run_alerts(_settings(), args, io.StringIO(), err), err)


def test_label_with_refused_credentials_on_reading_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _Refused)
    err = io.StringIO()
    args = _args(
        alertscmd.add_label_arguments, ["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]
    )
    _assert_config_error(alertscmd.run_label(_settings(), args, io.StringIO(), err), err)


def test_label_with_refused_credentials_on_sending_is_a_config_error(monkeypatch) -> None:
    event = {"alert_id": "a1", "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event))]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Refused)
    monkeypatch.setattr("pipeline.labeltopic.KafkaAdminClient", _LabelsTopicThere)
    err = io.StringIO()
    args = _args(
        alertscmd.add_label_arguments, ["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]
    )
    _assert_config_error(alertscmd.run_label(_settings(), args, io.StringIO(), err), err)


@pytest.mark.parametrize("command", ["alerts", "label"])
def test_an_unreachable_broker_stays_exit_3(monkeypatch, command: str) -> None:
    class _Unreachable:
        def __init__(self, *args: object, **kwargs: object) -> None:
            from kafka.errors import KafkaTimeoutError

            raise KafkaTimeoutError("bootstrap timed out")

    monkeypatch.setattr(consoletopics, "KafkaConsumer", _Unreachable)
    err = io.StringIO()
    if command == "alerts":
        code = alertscmd.run_alerts(
            _settings(), _args(alertscmd.add_alerts_arguments, ["--bootstrap", "k:1"]), None, err
        )
    else:
        args = _args(
            alertscmd.add_label_arguments, ["a1", "--normal", "--operator", "kim", "--bootstrap", "k:1"]
        )
        code = alertscmd.run_label(_settings(), args, None, err)
    assert code == alertscmd.EXIT_BROKER == 3
    assert "k:1" in err.getvalue()
