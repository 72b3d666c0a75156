"""``dhag-pipeline simulate`` streaming when Kafka fails it once its topics are made: its producer not
made, a send refused, the records sent not taken by the stop. In-process, its producer faked: one line
naming the broker and the topic, exit 3, no traceback."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future

import pipeline.simulator.command as command
from pipeline.cli import main
from pipeline.simulator import stream


def _producer(monkeypatch: pytest.MonkeyPatch, fail: dict[str, BaseException]) -> list[tuple[str, Any]]:
    """kafka-python's producer in the stream replaced by one whose methods named in ``fail`` raise;
    the calls made to it (flush and close, with their timeouts)."""
    calls: list[tuple[str, Any]] = []

    class Producer:
        def __init__(self, **_: Any) -> None:
            if "__init__" in fail:
                raise fail["__init__"]

        def send(self, *_: Any, **__: Any) -> Future:
            if "send" in fail:
                raise fail["send"]
            return Future()  # a record queued: never sent, as with the broker gone

        def flush(self, timeout: float | None = None) -> None:
            calls.append(("flush", timeout))
            if "flush" in fail:
                raise fail["flush"]

        def close(self, timeout: float | None = None) -> None:
            calls.append(("close", timeout))
            if "close" in fail:
                raise fail["close"]

    monkeypatch.setattr(stream, "KafkaProducer", Producer)
    monkeypatch.setattr("pipeline.topics.provision_topics", lambda *a, **k: None)
    monkeypatch.setattr("pipeline.simulator.command.install_signals", lambda *a, **k: None)
    return calls


UNBOOTSTRAPPED = KafkaTimeoutError("Unable to bootstrap from kafka-1:9093")
UNDELIVERED = KafkaTimeoutError("Timeout waiting for future")


@pytest.mark.parametrize(
    ("fail", "said"),
    [
        # The broker gone just after the topics were created.
        ({"__init__": UNBOOTSTRAPPED}, "Unable to bootstrap from kafka-1:9093"),
        # A topic deleted while it runs: no metadata for it within the producer's max_block_ms.
        ({"send": KafkaTimeoutError("Failed to update metadata after 60.0 secs.")}, "Failed to update"),
        # The broker gone by the stop (kafka-python's close flushes first, and raises as well).
        ({"flush": UNDELIVERED, "close": UNDELIVERED}, "not all delivered within 30 s of the stop"),
    ],
)
def test_kafka_failing_the_stream_exits_3_with_one_line_naming_broker_and_topic(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fail: dict[str, BaseException],
    said: str,
) -> None:
    # Before: kafka-python's KafkaTimeoutError out of the command, a traceback.
    calls = _producer(monkeypatch, fail)
    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    argv = ["simulate", "--bootstrap", "kafka-1:9093", "--topic", "plant", "--duration", "0.3"]
    assert main([*argv, "--assets", "2"]) == 3
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err
    assert "Kafka at kafka-1:9093 failed the stream to plant and sensor-truth: " in errors[0]
    assert said in errors[0] and "Traceback" not in err
    assert "streamed" not in out and hooked == []
    # Its waits on the broker end within the stop's grace, after which a stop is forced.
    assert sum(timeout for _, timeout in calls) < command.STOP_GRACE_S, calls
