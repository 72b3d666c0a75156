"""``alerts`` and ``label`` against a broker that answers but refuses an operation (an ACL): exit 2
naming what was refused and the permission to grant, not exit 3 as if the broker could not be reached
(no broker needed)."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest
from kafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError

from pipeline import alertscmd, consoletopics
from pipeline.config import Settings


def _args(add, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


class _ReadRefused:
    def __init__(self, **options: object) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        raise TopicAuthorizationFailedError({topic})

    def close(self) -> None:
        pass


class _LabelsTopicThere:
    def __init__(self, **options: object) -> None:
        pass

    def list_topics(self) -> list[str]:
        return ["anomaly-alerts", "operator-labels"]

    def close(self) -> None:
        pass


def test_alerts_refused_the_read_of_its_topic_is_exit_2_naming_the_topic_and_the_acl(monkeypatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _ReadRefused)
    err = io.StringIO()
    args = _args(alertscmd.add_alerts_arguments, ["--bootstrap", "k:9092"])
    assert alertscmd.run_alerts(Settings(), args, io.StringIO(), err) == alertscmd.EXIT_REFUSED == 2
    text = err.getvalue()
    assert "Kafka at k:9092 refused to read topic anomaly-alerts (TopicAuthorizationFailedError)" in text
    assert "needs Read and Describe on topic anomaly-alerts" in text and "cannot read" not in text


def test_label_refused_the_read_of_the_alerts_is_exit_2(monkeypatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _ReadRefused)
    err = io.StringIO()
    argv = ["a1", "--normal", "--operator", "kim", "--bootstrap", "k:9092"]
    code = alertscmd.run_label(Settings(), _args(alertscmd.add_label_arguments, argv), io.StringIO(), err)
    text = err.getvalue()
    assert code == 2 and "refused to read topic anomaly-alerts" in text and "cannot reach" not in text
    assert "no label was written" in text


@pytest.mark.parametrize(
    ("error", "need"),
    [
        (TopicAuthorizationFailedError({"operator-labels"}), "Write and Describe on topic operator-labels"),
        (ClusterAuthorizationFailedError(), "IdempotentWrite on the cluster"),
    ],
)
def test_a_refused_write_is_exit_2_and_says_no_label_was_written(monkeypatch, error, need: str) -> None:
    event = {"alert_id": "a1", "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event))]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr("pipeline.labeltopic.KafkaAdminClient", _LabelsTopicThere)

    class _Refusing:
        def __init__(self, **options: object) -> None:
            pass

        def send(self, *args: object, **kwargs: object) -> None:
            raise error

        def close(self, timeout: float) -> None:
            pass

    monkeypatch.setattr(alertscmd, "KafkaProducer", _Refusing)
    out, err = io.StringIO(), io.StringIO()
    args = _args(
        alertscmd.add_label_arguments, ["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9"]
    )
    assert alertscmd.run_label(Settings(), args, out, err) == 2
    text = err.getvalue()
    assert out.getvalue() == "" and "cannot reach" not in text
    assert "Kafka at k:9 refused to write to" in text and need in text
    assert "no label was written" in text


def test_the_label_producer_waits_for_the_topic_no_longer_than_the_request_timeout(monkeypatch) -> None:
    # kafka-python's send waits up to max_block_ms (60 s by default) for the topic's metadata: a topic
    # gone between the check and the send held the command a minute whatever the settings said.
    event = {"alert_id": "a1", "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event))]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr("pipeline.labeltopic.KafkaAdminClient", _LabelsTopicThere)
    seen: dict[str, object] = {}

    class _Sent:
        def get(self, timeout: float) -> None:
            pass

    class _Producer:
        def __init__(self, **options: object) -> None:
            seen.update(options)

        def send(self, *args: object, **kwargs: object) -> _Sent:
            return _Sent()

        def close(self, timeout: float) -> None:
            pass

    monkeypatch.setattr(alertscmd, "KafkaProducer", _Producer)
    settings = Settings.model_validate({"kafka": {"request_timeout_ms": 4000}})
    args = _args(
        alertscmd.add_label_arguments, ["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9"]
    )
    assert alertscmd.run_label(settings, args, io.StringIO(), io.StringIO()) == 0
    assert seen["max_block_ms"] == 4000 and seen["request_timeout_ms"] == 4000
