"""``alerts`` and ``label`` against a broker without the alerts topic (another cluster, a mistyped
``kafka.topics.alerts``, a daemon never started there): exit 2 naming the topic and the setting, not
"no alerts" with exit 0 as if the plant were quiet, nor "unknown alert" as if the id were wrong (no
broker needed)."""

from __future__ import annotations

import argparse
import io

import pytest

from pipeline import alertscmd, consoletopics
from pipeline.config import Settings


class _NoTopics:
    """A consumer of a cluster that has none of the topics asked for."""

    def __init__(self, **options: object) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set()

    def close(self) -> None:
        pass


def _args(add, argv: list[str]) -> argparse.Namespace:  # noqa: ANN001
    parser = argparse.ArgumentParser()
    add(parser)
    return parser.parse_args(argv)


def test_alerts_without_the_alerts_topic_is_exit_2_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _NoTopics)
    out, err = io.StringIO(), io.StringIO()
    args = _args(alertscmd.add_alerts_arguments, ["--bootstrap", "k:9092"])
    assert alertscmd.run_alerts(Settings(), args, out, err) == 2
    assert out.getvalue() == ""
    text = err.getvalue()
    assert "the topic 'anomaly-alerts' (kafka.topics.alerts) is not on Kafka at k:9092" in text
    assert "no alerts" not in text


def test_label_without_the_alerts_topic_is_exit_2_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", _NoTopics)
    monkeypatch.setattr(alertscmd, "KafkaProducer", lambda **o: pytest.fail("nothing may be written"))
    out, err = io.StringIO(), io.StringIO()
    argv = ["a1", "--normal", "--operator", "kim", "--bootstrap", "k:9092"]
    assert alertscmd.run_label(Settings(), _args(alertscmd.add_label_arguments, argv), out, err) == 2
    text = err.getvalue()
    assert "the topic 'anomaly-alerts' (kafka.topics.alerts) is not on Kafka at k:9092" in text
    assert "unknown alert" not in text and "no label was written" in text
