"""``label`` when the broker goes away between reading the topics and writing the label: the send's
own error is said, exit 3, and its producer is closed for good (kafka-python's ``close`` flushes first,
and raises when the label was never delivered)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from pipeline import alertscmd
from pipeline.cli import _console_parser
from pipeline.config import Settings


class _Producer:
    """A producer whose broker went away: the send's wait ends unacknowledged, and ``close`` raises
    until the records left are failed (kafka-python's forced close of its sender)."""

    made: list[_Producer] = []

    def __init__(self, **_: Any) -> None:
        self.forced = self.closed = False
        self._sender = self  # kafka-python's network thread, here the producer itself
        self.made.append(self)

    def send(self, *_: Any, **__: Any) -> Any:
        def get(timeout: float) -> None:
            raise KafkaTimeoutError(f"no acknowledgement within {timeout:g} s")

        return type("Sent", (), {"get": staticmethod(get)})()

    def force_close(self) -> None:
        self.forced = True

    def close(self, timeout: float) -> None:
        if not self.forced:
            raise KafkaTimeoutError("Timeout waiting for future")
        self.closed = True


def test_a_label_the_broker_never_took_is_said_with_the_sends_error_and_exit_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the close's error said in place of the send's ('Timeout waiting for future'), and the
    # producer left open, raising again from its __del__ at the exit.
    monkeypatch.setattr(alertscmd, "ensure_labels_topic", lambda *a: False)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _Producer)
    _Producer.made = []
    argv = ["label", "a1", "--anomaly", "--operator", "kim", "--bootstrap", "k:9092", "--unchecked"]
    out, err = io.StringIO(), io.StringIO()
    assert alertscmd.run_label(Settings(), _console_parser().parse_args(argv), out, err) == 3
    said = err.getvalue().splitlines()[-1]
    assert said == (
        "cannot reach Kafka at k:9092: KafkaTimeoutError: no acknowledgement within 30 s; the label may "
        "have been written; the same label given again counts once"
    ), said
    assert out.getvalue() == ""
    (producer,) = _Producer.made
    assert producer.closed
