"""``dhag-pipeline alerts`` where the labels topic is not on the cluster: its episodes are listed, none
labelled, and stderr says why, as a misnamed ``kafka.topics.labels`` (or another cluster) would otherwise
show every alert unlabelled without a word; before, it said nothing."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.config import Settings
from pipeline.consoletopics import TopicMissingError

T = 1.8e9


def _alerts(monkeypatch: pytest.MonkeyPatch, events: list[dict]) -> tuple[str, str]:
    records = [
        SimpleNamespace(topic="anomaly-alerts", partition=0, offset=i, key=None, value=orjson.dumps(e),
                        timestamp=int(T * 1000))
        for i, e in enumerate(events)
    ]  # fmt: skip

    def read_topic(bootstrap: str, topic: str, *_: object) -> Iterator[SimpleNamespace]:
        if topic != "anomaly-alerts":
            raise TopicMissingError(topic, bootstrap)
        yield from records

    monkeypatch.setattr(alertscmd, "read_topic", read_topic)
    args = argparse.Namespace(open=False, asset=None, limit=20, json=False, bootstrap="k:9092", since=None)
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_alerts(Settings(), args, out, err) == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_episodes_listed_without_a_labels_topic_say_that_none_can_show_a_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = {"alert_id": "a1", "asset_id": "pump-07", "state": "open", "opened_at": T, "ts": T,
             "score": 0.9, "threshold": 0.5, "model_version": "v1",
             "top_sensors": [{"sensor": "flow"}]}  # fmt: skip
    out, err = _alerts(monkeypatch, [event])
    assert out.splitlines()[1].split()[:3] == ["a1", "pump-07", "open"]
    assert err == (
        "the labels topic 'operator-labels' (kafka.topics.labels) is not on Kafka: no episode is shown "
        "labelled; the retrainer, or the first `dhag-pipeline label`, creates it (check "
        "kafka.topics.labels if alerts were labelled)\n"
    )


def test_no_episode_and_no_labels_topic_say_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _alerts(monkeypatch, []) == ("no alerts\n", "")
