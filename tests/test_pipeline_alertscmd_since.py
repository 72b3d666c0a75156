"""``dhag-pipeline alerts --since``: each partition of the alerts topic is read from its offset for that
time, of the labels topic from a margin before it (the records before are not read at all), and the
episodes listed are those opened since then; a ``--since`` that names no time exits 2 before reaching
Kafka (no broker needed: a fake consumer)."""

from __future__ import annotations

import argparse
import io
import json
import time
import uuid
from types import SimpleNamespace

import orjson
import pytest
import yaml
from kafka import KafkaProducer, TopicPartition

from pipeline import alertscmd, consoletopics
from pipeline.alertsince import labels_from, parse_since
from pipeline.cli import main
from pipeline.config import Settings
from pipeline.topics import ensure_topics

H = 3600.0


def _record(topic: str, partition: int, offset: int, value: dict, written: float | None) -> SimpleNamespace:
    stamp = -1 if written is None else int(written * 1000)  # None: no Kafka time (an old producer)
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, value=orjson.dumps(value), timestamp=stamp
    )


def _event(alert_id: str, state: str, opened: float, ts: float) -> dict:
    return {"schema": 1, "alert_id": alert_id, "asset_id": "p", "state": state, "opened_at": opened, "ts": ts}


class _Topics:
    """Records by topic and partition (``empty``: that many more partitions of each topic, never written
    to), and a consumer class reading them that counts what it hands out."""

    def __init__(self, items: dict[str, list[tuple[int, dict, float | None]]], empty: int = 0) -> None:
        self.held: dict[TopicPartition, list[SimpleNamespace]] = {}
        for topic, rows in items.items():
            for partition, value, written in rows:
                tp = TopicPartition(topic, partition)
                part = self.held.setdefault(tp, [])
                part.append(_record(topic, partition, len(part), value, written))
            after = 1 + max((partition for partition, _, _ in rows), default=-1)
            for partition in range(after, after + empty):  # never written to
                self.held[TopicPartition(topic, partition)] = []
        self.read = 0
        self.asked: list[int] = []  # the times asked of offsets_for_times
        self.consumers = 0

    def consumer(self) -> type:
        topics = self

        class Consumer:
            def __init__(self, **options: object) -> None:
                topics.consumers += 1
                self.pos: dict[TopicPartition, int] = {}

            def partitions_for_topic(self, topic: str) -> set[int]:
                return {tp.partition for tp in topics.held if tp.topic == topic}

            def assign(self, parts: list[TopicPartition]) -> None:
                self.pos = dict.fromkeys(parts, 0)

            def seek_to_beginning(self) -> None:
                self.pos = dict.fromkeys(self.pos, 0)

            def seek(self, tp: TopicPartition, offset: int) -> None:
                self.pos[tp] = offset

            def offsets_for_times(self, stamps: dict[TopicPartition, int]) -> dict:
                found = {}
                for tp, ms in stamps.items():  # as Kafka: a record without a time is never found
                    topics.asked.append(ms)
                    at = next((r.offset for r in topics.held[tp] if r.timestamp >= ms), None)
                    found[tp] = None if at is None else SimpleNamespace(offset=at, timestamp=ms)
                return found

            def beginning_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
                return dict.fromkeys(parts, 0)

            def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
                return {tp: len(topics.held[tp]) for tp in parts}

            def position(self, tp: TopicPartition) -> int:
                return self.pos[tp]

            def poll(self, timeout_ms: int) -> dict[TopicPartition, list[SimpleNamespace]]:
                batch = {}
                for tp, at in self.pos.items():
                    if records := topics.held[tp][at : at + 2]:
                        batch[tp] = records
                        self.pos[tp] = at + len(records)
                        topics.read += len(records)
                return batch

            def close(self) -> None:
                pass

        return Consumer


def _alerts(monkeypatch: pytest.MonkeyPatch, topics: _Topics, **given: object) -> tuple[int, str, str]:
    monkeypatch.setattr(consoletopics, "KafkaConsumer", topics.consumer())
    out, err = io.StringIO(), io.StringIO()
    options = {"open": False, "asset": None, "limit": 20, "json": True, "bootstrap": "k:9092", "since": None}
    code = alertscmd.run_alerts(Settings(), argparse.Namespace(**options | given), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _plant(now: float, *, timed: bool = True, empty: int = 0) -> _Topics:
    """Months of old alerts on two partitions, then the last hours: ``new`` opened an hour ago and was
    labelled, ``long`` opened the day before and resolved half an hour ago (labelled the day before).
    ``timed=False``: the records carry no Kafka time, as an old producer or message format v0 writes."""
    day = 86400.0
    old = [(p, _event(f"old{p}-{i}", "open", now - 90 * day + i, now - 90 * day + i), now - 90 * day + i)
           for p in (0, 1) for i in range(100)]  # fmt: skip
    alerts = [
        *old,
        (0, _event("long", "open", now - day, now - day), now - day),
        (0, _event("new", "open", now - H, now - H), now - H + 1),
        (0, _event("long", "resolved", now - day, now - H / 2), now - H / 2),
        (1, _event("new", "resolved", now - H, now - H / 4), now - H / 4),
    ]
    labels = [
        (0, {"schema": 1, "alert_id": "old0-1", "label": "normal", "operator": "kim", "ts": now - 80 * day},
         now - 80 * day),
        (1, {"schema": 1, "alert_id": "long", "label": "anomaly", "operator": "kim", "ts": now - day + 60},
         now - day + 60),
        (1, {"schema": 1, "alert_id": "new", "label": "anomaly", "operator": "lee", "ts": now - H + 60},
         now - H + 60),
    ]  # fmt: skip
    settings = Settings().kafka.topics
    if not timed:
        alerts, labels = ([(p, value, None) for p, value, _ in rows] for rows in (alerts, labels))
    return _Topics({settings.alerts: alerts, settings.labels: labels}, empty)


def test_since_reads_each_partition_from_its_offset_for_that_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before, every run read both topics from the beginning: months of alerts to list the last hours'.
    now = time.time()
    topics = _plant(now)
    code, out, err = _alerts(monkeypatch, topics, since="2h")
    assert code == 0, err
    assert topics.read == 3 + 1  # the three alert events and the label written in the last two hours
    # The alerts topic from that time, the labels topic from retrain.label_retry_s (600 s) before it.
    looked = [ms for ms in topics.asked if ms]  # time 0: whether a partition found nothing holds times
    assert sorted(round((now - 2 * H - ms / 1000) / 60) for ms in looked) == [0, 0, 10, 10]
    (episode,) = [json.loads(line) for line in out.splitlines()]
    assert (episode["alert_id"], episode["state"]) == ("new", "resolved")
    assert episode["label"]["operator"] == "lee"
    # Without --since, everything the topics retain, as before.
    topics = _plant(now)
    code, out, _ = _alerts(monkeypatch, topics)
    assert code == 0 and topics.read == 204 + 3 and not topics.asked
    listed = {e["alert_id"]: e for e in map(json.loads, out.splitlines())}
    assert len(listed) == 20 and listed["long"]["label"]["operator"] == "kim"


def test_an_episode_opened_before_since_is_left_out_even_when_it_resolved_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "long" resolved half an hour ago, but its label was given the day before, before --since: shown, it
    # would look unlabelled and invite a second, different label.
    now = time.time()
    code, out, _ = _alerts(monkeypatch, _plant(now), since="2h")
    assert code == 0 and "long" not in out
    # An ISO time a day and a half back takes it in, with its label.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1.5 * 86400))
    code, out, _ = _alerts(monkeypatch, _plant(now), since=since)
    listed = {e["alert_id"]: e for e in map(json.loads, out.splitlines())}
    assert sorted(listed) == ["long", "new"] and listed["long"]["label"]["operator"] == "kim"


def test_an_episode_said_open_again_since_but_opened_before_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A daemon that took the asset over says the episode open again, with its opening time of the day
    # before (and its labels may be older than --since).
    now, topics = time.time(), Settings().kafka.topics
    held = _Topics({topics.alerts: [(0, _event("moved", "open", now - 86400.0, now - 60.0), now - 60.0)]})
    code, out, _ = _alerts(monkeypatch, held, since="1h", json=False)
    assert code == 0 and out == "no alerts\n" and held.read == 1


def test_a_partition_with_nothing_since_then_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    now, topics = time.time(), Settings().kafka.topics
    held = _Topics({topics.alerts: [(0, _event("a", "open", now - 86400.0, now - 86400.0), now - 86400.0)]})
    code, out, _ = _alerts(monkeypatch, held, since="30m", json=False)
    assert (code, out, held.read) == (0, "no alerts\n", 0)


def test_a_label_written_before_since_for_an_alert_opened_after_it_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The label store takes a label by reading written before its alert opened (the reading dated ahead
    # of Kafka's clock, within records.max_future_s) and one by id that waited for its alert (within
    # retrain.label_retry_s): written just before --since, for an alert opened just after it, they
    # count, and the listing showed the alert unlabelled.
    now, topics = time.time(), Settings().kafka.topics
    since = now - 2 * H
    opened = since + 100.0
    early = [(p, _event(f"e{p}", "open", opened + p, opened + p), opened + p) for p in (0, 1)]
    by_reading = {"schema": 1, "asset_id": "p", "ts": opened, "values": {"x": 1.0}, "label": "anomaly",
                  "operator": "kim", "labelled_at": since - 60.0}  # fmt: skip
    by_id = {"schema": 1, "alert_id": "e1", "label": "normal", "operator": "lee", "ts": since - 300.0}
    too_early = {"schema": 1, "alert_id": "e1", "label": "anomaly", "operator": "ann", "ts": since - 3 * H}
    labels = [(0, by_reading, since - 60.0), (1, too_early, since - 3 * H), (1, by_id, since - 300.0)]
    held = _Topics({topics.alerts: early, topics.labels: labels})
    code, out, err = _alerts(monkeypatch, held, since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)))
    assert code == 0, err
    listed = {e["alert_id"]: e["label"] for e in map(json.loads, out.splitlines())}
    assert listed["e0"]["operator"] == "kim" and listed["e1"]["operator"] == "lee"
    # Read from the margin, not from the beginning: the label three hours before is not read at all.
    assert held.read == 2 + 2


def test_since_on_records_without_kafka_time_reads_them_by_their_own_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Kafka finds no offset for a time among records that carry none: every partition looked as if
    # nothing had been written since, and the console listed nothing, saying nothing of why.
    now = time.time()
    topics = _plant(now, timed=False, empty=1)
    code, out, err = _alerts(monkeypatch, topics, since="2h")
    assert code == 0, err
    (episode,) = [json.loads(line) for line in out.splitlines()]
    assert (episode["alert_id"], episode["state"], episode["label"]["operator"]) == ("new", "resolved", "lee")
    assert topics.read == 204 + 3  # the partitions holding records read whole; the empty ones not at all
    alerts, labels = Settings().kafka.topics.alerts, Settings().kafka.topics.labels
    notes = err.splitlines()
    assert len(notes) == 2 and "without a Kafka timestamp" in err and "own time (its ts field)" in err
    assert f"{alerts} partitions 0, 1 " in notes[0] and f"{labels} partitions 0, 1 " in notes[1]
    # With Kafka's times, as before: no note, and only what was written since is read.
    topics = _plant(now, empty=1)
    code, out, err = _alerts(monkeypatch, topics, since="2h")
    assert (code, err, topics.read) == (0, "", 3 + 1)
    assert [json.loads(line)["alert_id"] for line in out.splitlines()] == ["new"]


def test_a_record_without_kafka_time_after_the_offset_found_is_judged_by_its_own_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A producer replaced by an old one midway: the records it wrote after those with a time were
    # dropped as written before any --since.
    now, topics = time.time(), Settings().kafka.topics
    alerts = [
        (0, _event("kept", "open", now - H, now - H), now - H),
        (0, _event("late", "open", now - 60.0, now - 60.0), None),
    ]
    # By their own time (ts): the label for "late" was given long before --since and its margin (the
    # label store dead-letters one that waits that long for its alert), so it is not shown.
    labels = [
        (
            0,
            {"schema": 1, "alert_id": "kept", "label": "anomaly", "operator": "lee", "ts": now - H + 60},
            None,
        ),
        (0, {"schema": 1, "alert_id": "late", "label": "normal", "operator": "ann", "ts": now - 5 * H}, None),
    ]
    held = _Topics({topics.alerts: alerts, topics.labels: labels})
    code, out, err = _alerts(monkeypatch, held, since="2h")
    listed = {e["alert_id"]: e["label"] for e in map(json.loads, out.splitlines())}
    assert code == 0 and listed.keys() == {"kept", "late"}
    assert listed["kept"]["operator"] == "lee" and listed["late"] is None
    assert f"{topics.alerts} partition 0 " in err and f"{topics.labels} partition 0 " in err


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("2 hours", "neither a duration"),
        ("2mo", "neither a duration"),
        ("-2h", "neither a duration"),
        ("0h", "longer than 0"),
        ("2999-01-01", "in the future"),
        ("2024-13-01", "neither a duration"),
    ],
)
def test_a_since_that_names_no_time_exits_2_before_reaching_kafka(
    monkeypatch: pytest.MonkeyPatch, given: str, says: str
) -> None:
    held = _Topics({})
    code, out, err = _alerts(monkeypatch, held, since=given)
    assert (code, out, held.consumers) == (2, "", 0)
    assert err.startswith(f"--since: {given!r} ") and says in err


def test_since_syntax() -> None:
    now = 1.8e9
    assert [parse_since(s, now) for s in ("90s", "90m", "1.5h", "7d", "2w")] == [
        now - 90, now - 5400, now - 5400, now - 7 * 86400, now - 14 * 86400
    ]  # fmt: skip
    # Without an offset, UTC, as the console shows its times; a date alone is its midnight.
    assert parse_since("2024-05-01T08:00", now) == parse_since("2024-05-01T08:00:00Z", now) == 1714550400.0
    assert parse_since("2024-05-01T10:00+02:00", now) == 1714550400.0
    assert parse_since("2024-05-01", now) == 1714521600.0
    assert parse_since("100000w", now) == 0.0  # never before 1970: Kafka reads a negative time otherwise
    # The labels from the longer of the two margins the label store allows a label before its alert.
    assert labels_from(now, Settings()) == now - 600.0
    assert labels_from(now, Settings(records={"max_future_s": 3600.0})) == now - 3600.0
    assert labels_from(now, Settings(records={"max_future_s": None})) == now - 600.0
    assert labels_from(60.0, Settings()) == 0.0


@pytest.mark.integration
def test_since_against_a_broker(tansu, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    names = {"alerts": f"alerts-{uuid.uuid4().hex[:8]}", "labels": f"labels-{uuid.uuid4().hex[:8]}"}
    ensure_topics(tansu.bootstrap_servers, {names["alerts"]: 2}, create_missing=True, replication_factor=1)
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    try:
        now = time.time()
        for i, written in enumerate([now - 3 * H, now - 3 * H + 1, now - 60.0]):
            event = _event(f"a{i}", "open", written, written)
            stamp = int(written * 1000)
            producer.send(names["alerts"], orjson.dumps(event), partition=i % 2, timestamp_ms=stamp)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"topics": names}}))
    common = ["--config", str(config), "--bootstrap", tansu.bootstrap_servers, "--json"]
    assert main(["alerts", *common, "--since", "1h"]) == 0
    assert [json.loads(line)["alert_id"] for line in capsys.readouterr().out.splitlines()] == ["a2"]
    assert main(["alerts", *common]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


@pytest.mark.integration
def test_since_against_a_broker_on_records_without_kafka_time(tansu) -> None:  # noqa: ANN001
    # Tansu finds an offset for the time, but every record read after it was dropped as written before.
    names = {"alerts": f"alerts-{uuid.uuid4().hex[:8]}", "labels": f"labels-{uuid.uuid4().hex[:8]}"}
    ensure_topics(tansu.bootstrap_servers, {names["alerts"]: 1}, create_missing=True, replication_factor=1)
    producer = KafkaProducer(bootstrap_servers=tansu.bootstrap_servers)
    try:
        now = time.time()
        for i, written in enumerate([now - 3 * H, now - 60.0]):
            event = orjson.dumps(_event(f"a{i}", "open", written, written))
            producer.send(names["alerts"], event, partition=0, timestamp_ms=-1)  # no time, as an old producer
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(
        open=False, asset=None, limit=20, json=True, bootstrap=tansu.bootstrap_servers, since="1h"
    )
    settings = Settings(kafka={"topics": names})
    assert alertscmd.run_alerts(settings, args, out=out, err=err) == 0, err.getvalue()
    assert [json.loads(line)["alert_id"] for line in out.getvalue().splitlines()] == ["a1"]
    assert f"{names['alerts']} partition 0 " in err.getvalue()


def test_since_takes_a_duration_of_several_units_as_prometheus_writes_them() -> None:
    # Before: '1h30m' and '2H' were refused as neither a duration nor a time, and 400 nines of days
    # were refused as 'no time back from now: give a duration longer than 0'.
    now = 1.8e9
    assert parse_since("1h30m", now) == parse_since("90m", now) == now - 5400
    assert parse_since("1d12h", now) == now - 129600
    assert parse_since("2w3d4h5m6s", now) == now - (2 * 604800 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6)
    assert parse_since("2H", now) == parse_since("2h", now)
    assert parse_since("9" * 400 + "d", now) == 0.0  # everything the topics retain, as 100000w
    # A time with a space and a trailing UTC, as a log line or a chat message writes it.
    assert parse_since("2024-05-01 08:00 UTC", now) == parse_since("2024-05-01T08:00Z", now)
    for wrong in ("1h 30m", "h", "1h30", "0h0m"):
        with pytest.raises(ValueError):
            parse_since(wrong, now)


@pytest.mark.parametrize("argv", [["--since", "-5m"], ["--since=-5m"], ["--json", "--since", "-5m"]])
def test_a_since_with_a_minus_sign_is_refused_saying_to_write_it_without(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: '--since -5m' was refused by argparse as 'argument --since: expected one argument', and
    # '--since=-5m' as neither a duration nor a time, without a word on the sign.
    assert main(["alerts", *argv, "--bootstrap", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--since: '-5m' is neither a duration") and "expected one argument" not in err
    assert err.endswith("; a duration is the time back from now, without a sign: --since 5m\n")
