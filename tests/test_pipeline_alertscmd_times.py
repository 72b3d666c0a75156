"""``dhag-pipeline alerts`` and time: an episode is never shown resolved before it opened, and a label is
not hidden because the host running the command has a clock behind the one that gave it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson

from pipeline import alertscmd
from pipeline.config import Settings

T = 1.8e9


def _topics(monkeypatch, topics: dict[str, list[SimpleNamespace]]) -> None:  # noqa: ANN001
    monkeypatch.setattr(alertscmd, "_read_topic", lambda bootstrap, topic, options: topics.get(topic, []))


def _event(state: str, ts: float, **extra: object) -> SimpleNamespace:
    event = {"alert_id": "a1", "asset_id": "p1", "state": state, "opened_at": T, "ts": ts, "score": 0.9}
    return SimpleNamespace(value=orjson.dumps(event | extra), timestamp=int(T * 1000))


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
    label = SimpleNamespace(value=raw, timestamp=int(given * 1000))
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": [label]})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert episode.label is not None and episode.label["operator"] == "kim"
    # A label dated far ahead of the time it was written to Kafka is refused, as the retrainer does.
    bogus = _label("anomaly", "lee", given + 86400.0)
    labels = [label, SimpleNamespace(value=bogus, timestamp=int(given * 1000))]
    _topics(monkeypatch, {"anomaly-alerts": [_event("open", T)], "operator-labels": labels})
    (episode,) = alertscmd.read_episodes(Settings(), "x:1").values()
    assert [lab["operator"] for lab in episode.labels] == ["kim"]
