"""``label`` and ``alerts`` against a cluster where the labels topic does not exist yet (no retrainer ever
ran): ``label`` creates it as the services do (``kafka.topics.partitions``), never leaving it to a
broker's auto-creation and its own partition count; neither command creates a topic by reading it."""

from __future__ import annotations

import argparse
import io
import uuid
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError
from pipeline_kafka import produce

from pipeline import alertscmd, labeltopic
from pipeline.broker import EmbeddedBroker
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.topics import ensure_topics


def _topics(tansu: EmbeddedBroker, tmp_path: Path, **topics: object) -> tuple[list[str], dict[str, str]]:
    """The command line's config for fresh topics (the alerts topic created, with one open alert), and
    the topic names."""
    uid = uuid.uuid4().hex[:8]
    names = {"alerts": f"alerts-{uid}", "labels": f"labels-{uid}", "labels_dlq": f"labels-{uid}.dlq"}
    ensure_topics(tansu.bootstrap_servers, {names["alerts"]: 1}, create_missing=True, replication_factor=1)
    event = {"schema": 1, "alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 1e9, "ts": 1e9}
    produce(tansu.bootstrap_servers, names["alerts"], [(b"p1", orjson.dumps(event))])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"topics": names | {"partitions": 2} | topics}}))
    return ["--config", str(config), "--bootstrap", tansu.bootstrap_servers], names


def _partitions(tansu: EmbeddedBroker, topic: str) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=tansu.bootstrap_servers)
    try:
        found = {t["name"]: len(t["partitions"]) for t in admin.describe_topics() if not t.get("error_code")}
    finally:
        admin.close()
    return found.get(topic)


@pytest.mark.integration
def test_a_first_label_creates_the_labels_topic_with_the_configured_partitions(
    tansu: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The broker's auto-creation gave it its own default count (4 on the embedded broker), and the
    # retrainer then warned that the topic had 4 partitions where 2 were asked for.
    config, names = _topics(tansu, tmp_path)
    assert main(["alerts", *config]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[0] == "a1"
    assert _partitions(tansu, names["labels"]) is None  # reading it created nothing
    assert main(["label", "a1", "--anomaly", "--operator", "kim", *config]) == 0
    captured = capsys.readouterr()
    assert "labelled alert a1" in captured.out
    assert f"created the topic {names['labels']} (2 partitions" in captured.err
    assert _partitions(tansu, names["labels"]) == 2
    assert main(["label", "a1", "--normal", "--operator", "lee", *config]) == 0
    assert "created" not in capsys.readouterr().err  # once


@pytest.mark.integration
def test_a_label_refuses_a_missing_topic_it_may_not_create(
    tansu: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, names = _topics(tansu, tmp_path, create_missing=False)
    assert main(["label", "a1", "--anomaly", "--operator", "kim", *config]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"the labels topic {names['labels']} does not exist" in captured.err
    assert "kafka.topics.create_missing is false" in captured.err
    assert "start the retrainer" in captured.err and "no label was written" in captured.err
    assert _partitions(tansu, names["labels"]) is None


class _Admin:
    """An admin client on a cluster without the labels topic, refused its creation (``refuse``)."""

    refuse: type[Exception]

    def __init__(self, **options: object) -> None:
        pass

    def list_topics(self) -> list[str]:
        return ["anomaly-alerts"]

    def create_topics(self, topics: list[NewTopic]) -> None:
        raise self.refuse()

    def close(self) -> None:
        pass


@pytest.mark.parametrize("refused", [TopicAuthorizationFailedError, ClusterAuthorizationFailedError])
def test_a_label_says_what_to_do_when_kafka_refuses_to_create_the_topic(
    monkeypatch: pytest.MonkeyPatch, refused: type[Exception]
) -> None:
    # Operator consoles often lack the Create permission: the label is not written (a broker's
    # auto-creation would need the same permission, and give the topic its own partition count).
    event = {"alert_id": "a1", "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0}
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(event))]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr(alertscmd, "KafkaProducer", lambda **o: pytest.fail("nothing may be written"))
    monkeypatch.setattr(labeltopic, "KafkaAdminClient", type("Refusing", (_Admin,), {"refuse": refused}))
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(["a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), args, out, err) == alertscmd.EXIT_REFUSED == 2
    text = err.getvalue()
    assert out.getvalue() == "" and "cannot reach" not in text
    assert "the labels topic operator-labels does not exist on k:9092" in text
    assert f"Kafka refused to create it ({refused.__name__}: the client lacks the Create permission)" in text
    assert "no label was written; start the retrainer first" in text
    assert "created with 3 partitions (kafka.topics.partitions)" in text


def test_a_first_label_creates_the_labels_topic_to_keep_the_brokers_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the retrainer creates it (pipeline.topics.LABELS_TOPIC_CONFIGS): the bound on a label's given
    # time then reads the broker's clock, not the console's.
    made: list[NewTopic] = []
    creating = type("Creating", (_Admin,), {"create_topics": lambda self, topics: made.extend(topics)})
    monkeypatch.setattr(labeltopic, "KafkaAdminClient", creating)
    assert labeltopic.ensure_labels_topic(Settings().kafka.topics, "k:9092", {}) is True
    assert [(t.name, t.num_partitions, t.topic_configs) for t in made] == [
        ("operator-labels", 3, {"message.timestamp.type": "LogAppendTime"})
    ]
