"""``label`` with an alert id that is not on the alerts topic: refused (exit 2), naming the nearest ids
when it looks mistyped, and saying that an alert older than the topic's retention is no longer there."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import orjson
import pytest

from pipeline import alertscmd
from pipeline.config import Settings


def _label(
    monkeypatch: pytest.MonkeyPatch,
    alert_id: str,
    names: tuple[str, ...] = ("5f3a9c21e0b4", "77d0e1aa9b3c", "5f3a9c21e0b5x"),
) -> tuple[int, str]:
    events = [
        {"alert_id": name, "asset_id": "p", "state": "open", "opened_at": 1.0, "ts": 1.0} for name in names
    ]
    topics = {"anomaly-alerts": [SimpleNamespace(value=orjson.dumps(e), timestamp=1000) for e in events]}
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, topic, *_: topics.get(topic, []))
    monkeypatch.setattr(alertscmd, "KafkaProducer", lambda **o: pytest.fail("nothing may be written"))
    parser = argparse.ArgumentParser()
    alertscmd.add_label_arguments(parser)
    args = parser.parse_args([alert_id, "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"])
    err = io.StringIO()
    return alertscmd.run_label(Settings(), args, io.StringIO(), err), err.getvalue()


def test_a_mistyped_alert_id_is_refused_naming_the_nearest_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = _label(monkeypatch, "5f3a9c12e0b4")  # two digits swapped
    assert code == 2
    assert "unknown alert '5f3a9c12e0b4'" in text
    assert "did you mean 5f3a9c21e0b4 or 5f3a9c21e0b5x?" in text and "77d0e1aa9b3c" not in text


def test_an_id_near_none_says_an_old_alert_may_have_left_the_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = _label(monkeypatch, "zzzz")
    assert code == 2 and "did you mean" not in text
    assert "older than the topic's retention" in text


def test_an_alerts_topic_holding_no_alert_is_said_before_unchecked_is_advised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, the refusal read as for any unknown id, advising --unchecked: on a cluster or topic that
    # is not the daemons' (an empty one of the same name), that label went where no retrainer reads.
    code, text = _label(monkeypatch, "5f3a9c21e0b4", names=())
    assert code == 2
    assert text == (
        "unknown alert '5f3a9c21e0b4': the topic 'anomaly-alerts' on k:9092 holds no alert at all: check "
        "that --bootstrap (or kafka.bootstrap_servers) and kafka.topics.alerts name the daemons' cluster "
        "and topic; on theirs, an alert older than the topic's retention is no longer on it, and "
        "--unchecked labels it unchecked\n"
    )
