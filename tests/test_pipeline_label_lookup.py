"""``label`` finds its alert without reading the whole alerts topic: it reads the newest alert events of
each partition (1,000, then 16,000), and the labels back from the end to a margin before the alert's
open event was written, and reads all the topics retain only for an older alert, or an id not on the
topic, which reads no label at all (a fake consumer, its looks made small; and once on the broker)."""

from __future__ import annotations

import argparse
import io
import time
import uuid
from collections import Counter

import orjson
import pytest
from kafka import KafkaProducer
from labels_support import LabelProducer
from test_pipeline_alertscmd_since import H, _event, _plant, _Topics

from pipeline import alertscmd, consoletopics, labelfind
from pipeline.alertepisodes import when
from pipeline.config import Settings
from pipeline.topics import ensure_topics


def _label(monkeypatch: pytest.MonkeyPatch, topics: _Topics, alert_id: str) -> tuple[int, str, str]:
    topics.by_topic = Counter()
    base = topics.consumer()

    class Consumer(base):  # counts the records it hands out by topic
        def poll(self, timeout_ms: int) -> dict:
            batch = super().poll(timeout_ms)
            for tp, records in batch.items():
                topics.by_topic[tp.topic] += len(records)
            return batch

    monkeypatch.setattr(consoletopics, "KafkaConsumer", Consumer)
    # Each partition holds about a hundred events: looks of 2 and 32 of them stand for 1,000 and 16,000.
    monkeypatch.setattr(labelfind, "ALERT_LOOKS", (2, 32))
    monkeypatch.setattr(labelfind, "LABEL_LOOKS", (2, 32, None))
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", LabelProducer)
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args([alert_id, "--normal", "--operator", "kim", "--bootstrap", "k:9092"])
    out, err = io.StringIO(), io.StringIO()
    return alertscmd.run_label(Settings(), args, out, err), out.getvalue(), err.getvalue()


def test_label_of_a_recent_alert_reads_only_the_newest_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, label read both topics from the start of what they retain: months of alerts (38 s for
    # 200,000 alert events) to check one opened an hour ago.
    now = time.time()
    topics = _plant(now)
    code, out, err = _label(monkeypatch, topics, "new")
    assert code == 0, err
    # Its earlier label (lee's, written since a margin before the alert) is still said.
    assert out.splitlines() == [
        f"note: alert new was labelled anomaly by lee at {when(now - H + 60)}"
        "; this normal label replaces it (the newest label counts; the earlier ones stay in the history)",
        f"labelled alert new (p, opened {when(now - H)}) as normal by kim",
    ]
    names = Settings().kafka.topics
    assert (topics.by_topic[names.alerts], topics.by_topic[names.labels]) == (4, 3)  # of 204 and 3
    assert LabelProducer.sent and err == ""


def test_labels_are_read_back_to_a_margin_before_the_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    # "long" opened a day ago: its open event is among the newest 32 of its partition, not the newest 2;
    # kim's label of it, given a minute after, is not among the newest 2 labels written since.
    now = time.time()
    topics = _plant(now)
    code, out, err = _label(monkeypatch, topics, "long")
    assert code == 0, err
    assert out.startswith(
        f"note: alert long was labelled anomaly by kim at {when(now - 86400 + 60)}; this normal"
    )
    names = Settings().kafka.topics
    assert topics.by_topic[names.alerts] == 4 + 64 and topics.by_topic[names.labels] == 3 + 3


def test_label_of_an_old_alert_reads_the_whole_topic_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    topics = _plant(now)
    code, out, err = _label(monkeypatch, topics, "old0-1")
    assert code == 0, err
    assert out.startswith("note: alert old0-1 was already labelled normal by kim; this label repeats it")
    names = Settings().kafka.topics
    assert topics.by_topic[names.alerts] == 4 + 64 + 204 and topics.by_topic[names.labels] == 3


def test_an_id_not_on_the_topic_reads_no_label_and_names_the_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, the labels topic was read whole too, for a label that is never written.
    now = time.time()
    topics = _plant(now)
    code, out, err = _label(monkeypatch, topics, "old0-1x")
    assert (code, out) == (2, "")
    assert "unknown alert 'old0-1x'" in err and "did you mean old0-1" in err
    names = Settings().kafka.topics
    assert topics.by_topic[names.labels] == 0 and topics.by_topic[names.alerts] == 4 + 64 + 204


def test_records_without_kafka_time_are_read_whole_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    topics = _plant(now, timed=False)
    code, out, err = _label(monkeypatch, topics, "new")
    assert code == 0, err
    assert out.startswith("note: alert new was labelled anomaly by lee")
    assert topics.by_topic[Settings().kafka.topics.labels] == 3


@pytest.mark.integration
def test_label_reads_back_from_the_end_against_a_broker(tansu, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    names = {"alerts": f"alerts-{uuid.uuid4().hex[:8]}", "labels": f"labels-{uuid.uuid4().hex[:8]}"}
    ensure_topics(
        tansu.bootstrap_servers, dict.fromkeys(names.values(), 2), create_missing=True, replication_factor=1
    )
    now = time.time()
    old = [_event(f"old{i}", "open", now - 86400 + i, now - 86400 + i) for i in range(40)]
    label = {"schema": 1, "alert_id": "new", "label": "anomaly", "operator": "lee", "ts": now - 30}
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    try:
        for event in [*old, _event("new", "open", now - 60, now - 60)]:
            producer.send(
                names["alerts"], orjson.dumps(event), key=b"p", timestamp_ms=int(event["ts"] * 1000)
            )
        producer.send(names["labels"], orjson.dumps(label), key=b"new", timestamp_ms=int((now - 30) * 1000))
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    monkeypatch.setattr(labelfind, "ALERT_LOOKS", (5, 20))
    monkeypatch.setattr(labelfind, "LABEL_LOOKS", (5, 20, None))
    looked: list[int | None] = []
    reading = consoletopics.read_topic
    monkeypatch.setattr(alertscmd, "read_topic", lambda *a: looked.append(a[-1]) or reading(*a))
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args(["new", "--normal", "--operator", "kim", "--bootstrap", tansu.bootstrap_servers])
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(kafka={"topics": names})
    assert alertscmd.run_label(settings, args, out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("note: alert new was labelled anomaly by lee at ")
    assert looked == [5, 5]  # the newest 5 alert events of each partition, and labels
