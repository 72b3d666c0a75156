"""``label`` that cannot reach Kafka says what became of its label: a failure while it read the topics,
or before its label was sent, wrote nothing; one while the label was being sent may have written it,
and then it names the ``alerts --asset A`` that shows whether, and that the same label given again
counts once."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings

ARGV = ["label", "a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092"]


def _label(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = alertscmd.run_label(Settings(), _console_parser().parse_args(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _alert_on_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    event = {"alert_id": "a1", "asset_id": "pump-01", "state": "open", "opened_at": 5.0, "ts": 5.0}
    records = [SimpleNamespace(value=orjson.dumps(event))]
    monkeypatch.setattr(
        alertscmd, "read_topic", lambda _b, topic, *_, **__: records if "alert" in topic else []
    )
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)


class _Unacknowledged:
    """A producer whose broker went away once the label was sent: no acknowledgement came."""

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, *_: Any, **__: Any) -> Any:
        def get(timeout: float) -> None:
            raise KafkaTimeoutError(f"no acknowledgement within {timeout:g} s")

        return SimpleNamespace(get=get)

    def close(self, timeout: float) -> None:
        pass


def test_a_broker_gone_while_reading_says_no_label_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: "cannot reach Kafka at k:9092: ..." alone; the operator could not tell whether to label
    # again.
    def gone(*_: Any, **__: Any) -> Any:
        raise KafkaTimeoutError("Unable to bootstrap from k:9092")

    monkeypatch.setattr(alertscmd, "read_topic", gone)
    code, out, err = _label(ARGV)
    assert (code, out) == (3, "")
    assert err == (
        "cannot reach Kafka at k:9092: KafkaTimeoutError: Unable to bootstrap from k:9092; "
        "no label was written\n"
    )


def test_a_producer_that_cannot_connect_says_no_label_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    _alert_on_topic(monkeypatch)

    def unreachable(**_: Any) -> Any:
        raise KafkaTimeoutError("Unable to bootstrap from k:9092")

    monkeypatch.setattr(alertscmd, "KafkaProducer", unreachable)
    code, out, err = _label(ARGV)
    assert (code, out) == (3, "")
    assert err == (
        "cannot reach Kafka at k:9092: KafkaTimeoutError: Unable to bootstrap from k:9092; "
        "no label was written\n"
    )


def test_a_label_sent_but_not_acknowledged_may_have_been_written(monkeypatch: pytest.MonkeyPatch) -> None:
    _alert_on_topic(monkeypatch)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Unacknowledged)
    code, out, err = _label(ARGV)
    assert (code, out) == (3, "")
    assert err == (
        "cannot reach Kafka at k:9092: KafkaTimeoutError: no acknowledgement within 30 s; the label may "
        "have been written; `dhag-pipeline alerts --asset pump-01` shows whether it was, and the same "
        "label given again counts once\n"
    )


def test_an_unchecked_label_not_acknowledged_says_giving_it_again_is_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Unacknowledged)
    code, _, err = _label([*ARGV, "--unchecked"])
    assert code == 3
    assert err.splitlines()[-1] == (
        "cannot reach Kafka at k:9092: KafkaTimeoutError: no acknowledgement within 30 s; the label may "
        "have been written; the same label given again counts once"
    )
