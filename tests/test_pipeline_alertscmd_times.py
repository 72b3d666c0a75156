"""``dhag-pipeline alerts`` and time: an episode is never shown resolved before it opened, a label is not
hidden because the host running the command has a clock behind the one that gave it, and the label shown
as the one that counts is the one the retrainer trains on, whatever time each console put on it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.labels import Source, parse_label
from pipeline.labelstore import LabelStore

T = 1.8e9


def _topics(monkeypatch, topics: dict[str, list[SimpleNamespace]]) -> None:  # noqa: ANN001
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))


def _event(state: str, ts: float, **extra: object) -> SimpleNamespace:
    event = {"alert_id": "a1", "asset_id": "p1", "state": state, "opened_at": T, "ts": ts, "score": 0.9}
    return _record("anomaly-alerts", 0, 0, orjson.dumps(event | extra), int(T * 1000))


def _record(topic: str, partition: int, offset: int, value: bytes, timestamp: int) -> SimpleNamespace:
    # What a Kafka consumer record holds, and the command reads.
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, value=value, timestamp=timestamp)


def test_an_episode_whose_last_reading_is_dated_early_is_not_shown_resolved_before_it_opened(
    monkeypatch,  # noqa: ANN001
) -> None:
    # Its last reading came dated 1970 (a reset device clock); the latest reading was an hour in.
    events = [_event("open", T), _event("resolved", 0.0, latest_ts=T + 3600.0)]
    _topics(monkeypatch, {"anomaly-alerts": events})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.resolved_at == T + 3600.0
    # An event of an earlier daemon version, without latest_ts: never before the opening.
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T), _event("resolved", T - 600.0)]})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.resolved_at == T


def _label(label: str, operator: str, ts: float) -> bytes:
    # As a console whose clock is ahead of this host's writes it.
    return orjson.dumps({"schema": 1, "alert_id": "a1", "label": label, "operator": operator, "ts": ts})


def test_a_label_is_shown_whatever_the_clock_of_the_host_running_the_command(monkeypatch) -> None:  # noqa: ANN001
    given = time.time() + 3600.0  # given an hour ago, by this host's clock an hour behind
    raw = _label("normal", "kim", given)
    label = _record("operator-labels", 0, 0, raw, int(given * 1000))
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": [label]})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.label is not None and episode.label["operator"] == "kim"
    # A label dated far ahead of the time it was written to Kafka is refused, as the retrainer does.
    bogus = _label("anomaly", "lee", given + 86400.0)
    labels = [label, _record("operator-labels", 0, 1, bogus, int(given * 1000))]
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": labels})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert [lab["operator"] for lab in episode.labels] == ["kim"]


def test_the_label_shown_as_counting_is_the_one_the_retrainer_trains_on(monkeypatch) -> None:  # noqa: ANN001
    # ann confirmed; 30 s later bob rejected from a console whose clock runs 2 minutes slow. Both went to
    # the alert's partition in that order: bob's rejection counts in the label store, and the command
    # showed ann's confirmation as the one that counts (it ordered by the time the consoles put on them).
    sent = [("anomaly", "ann", T + 5000.0), ("normal", "bob", T + 4910.0)]
    labels = [
        _record("operator-labels", 0, 7 + i, _label(*lab), int((T + 5030.0) * 1000))
        for i, lab in enumerate(sent)
    ]
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": labels})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    store = LabelStore(":memory:")
    store.add_alert(
        {"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": T, "values": {"x": 1.0}}
    )
    for record in labels:
        place = Source.of(record.topic, record.partition, record.offset, record.value)
        store.add_label(parse_label(record.value, now=record.timestamp / 1000), place)
    [trained] = store.latest_labels()
    assert episode.label is not None and (episode.label["operator"], trained.operator) == ("bob", "bob")
    assert [lab["operator"] for lab in episode.labels] == [h["operator"] for h in store.history("a1")]
    # Labels of different partitions (a topic given more partitions) rank by the time given, as there.
    labels[1] = _record("operator-labels", 1, 0, labels[1].value, labels[1].timestamp)
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": labels})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert [lab["operator"] for lab in episode.labels] == ["bob", "ann"]
