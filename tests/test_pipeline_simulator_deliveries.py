"""``dhag-pipeline simulate`` streaming while Kafka does not take its records (the broker gone mid-run):
kafka-python's send only queues a record, and its future fails later. In-process, its producer faked
with futures that fail: the stream says so once (and once when it recovers), counts what was not
delivered, and the command exits 3 naming the broker, the topics and the counts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future

from pipeline.cli import main
from pipeline.simulator import Fleet, deliveries, stream

EXPIRED = KafkaTimeoutError("Expiring 1 record(s) for plant-0: 31005 ms has passed since batch creation")


def _producer(
    monkeypatch: pytest.MonkeyPatch, outcome: Callable[[int], BaseException | None]
) -> list[dict[str, Any]]:
    """kafka-python's producer in the stream replaced by one whose n-th send's future fails with
    ``outcome(n)`` (None: delivered), as its sender thread would; the options it was made with."""
    made: list[dict[str, Any]] = []

    class Producer:
        def __init__(self, **options: Any) -> None:
            made.append(options)
            self.sent = 0

        def send(self, *_: Any, **__: Any) -> Future:
            future, error = Future(), outcome(self.sent)
            self.sent += 1
            return future.failure(error) if error is not None else future.success(None)

        def flush(self, timeout: float | None = None) -> None: ...

        def close(self, timeout: float | None = None) -> None: ...

    monkeypatch.setattr(stream, "KafkaProducer", Producer)
    return made


def test_a_stream_whose_records_kafka_stops_taking_says_so_once_and_once_when_it_takes_them_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, nothing looked at a send's future: it streamed on without a word, and counted every record.
    monkeypatch.setattr(deliveries, "RECOVERED_S", 0.0)
    enough = threading.Event()

    def outcome(n: int) -> BaseException | None:
        if n >= 600:
            enough.set()
        return EXPIRED if 100 <= n < 300 else None

    _producer(monkeypatch, outcome)
    caplog.set_level(logging.INFO, "pipeline")
    fleet = Fleet(4, types=("pump",), seed=5, run=1)
    stats = stream.stream_fleet(
        fleet, "kafka-1:9093", topic="plant", rate=4000.0, speedup=10.0, duration_s=60, stop=enough
    )
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said
    assert said[0].startswith(
        "Kafka at kafka-1:9093 is not taking the records sent to plant and sensor-truth: "
    )
    assert "KafkaTimeoutError: Expiring 1 record(s)" in said[0]
    assert said[1].startswith(
        "Kafka at kafka-1:9093 takes the records sent to plant and sensor-truth again: "
    )
    assert "200 of the " in said[1]
    counted = stats.deliveries
    assert counted.sent == stats.records + stats.truth_events and counted.undelivered == 200
    assert counted.delivered == counted.sent - 200


def test_a_stream_with_every_other_record_failing_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # One partition's leader gone: every other record fails, the others are taken. It says so once.
    enough = threading.Event()

    def outcome(n: int) -> BaseException | None:
        if n >= 400:
            enough.set()
        return EXPIRED if n % 2 else None

    _producer(monkeypatch, outcome)
    caplog.set_level(logging.INFO, "pipeline")
    stats = stream.stream_fleet(
        Fleet(4, types=("pump",), seed=5, run=1), "kafka-1:9093", rate=4000.0, duration_s=60, stop=enough
    )
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "is not taking the records sent to sensor-readings" in said[0], said
    assert stats.deliveries.undelivered == stats.deliveries.sent // 2


def test_the_streams_producer_gives_up_on_a_send_and_on_a_record_within_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # kafka-python's defaults: a send blocked 60 s on a topic's metadata, and a record waited 120 s for
    # a broker gone before its future failed.
    made = _producer(monkeypatch, lambda n: None)
    stream.stream_fleet(
        Fleet(2, types=("pump",), seed=5, run=1),
        "kafka-1:9093",
        duration_s=0.1,
        producer_options={"request_timeout_ms": 20_000},
    )
    (options,) = made
    assert options["max_block_ms"] == stream.SEND_BLOCK_MS == 10_000
    assert options["delivery_timeout_ms"] == 20_000 + options["linger_ms"] + 1000


def _simulate(monkeypatch: pytest.MonkeyPatch, outcome: Callable[[int], BaseException | None]) -> int:
    _producer(monkeypatch, outcome)
    monkeypatch.setattr("pipeline.topics.provision_topics", lambda *a, **k: None)
    monkeypatch.setattr("pipeline.simulator.command.install_signals", lambda *a, **k: None)
    argv = ["simulate", "--bootstrap", "kafka-1:9093", "--topic", "plant", "--duration", "0.5"]
    return main([*argv, "--assets", "2", "--rate", "400"])


def test_simulate_with_records_not_delivered_exits_3_saying_how_many_of_those_sent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: exit 0, 'streamed N records and M truth events', every record counted as streamed.
    assert _simulate(monkeypatch, lambda n: EXPIRED if n >= 10 else None) == 3
    out, err = capsys.readouterr()
    warned = [line for line in err.splitlines() if " WARNING " in line]
    assert len(warned) == 1 and "Kafka at kafka-1:9093 is not taking the records sent to plant" in warned[0]
    (error,) = [line for line in err.splitlines() if " ERROR " in line]
    assert (
        "Kafka at kafka-1:9093 did not take " in error
        and " records and truth events sent to plant and " in error
    )
    assert "(10 delivered): KafkaTimeoutError: Expiring 1 record(s)" in error, error
    assert "streamed" not in out and "Traceback" not in err


def test_simulate_whose_records_were_all_delivered_says_what_it_streamed_and_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _simulate(monkeypatch, lambda n: None) == 0
    out, err = capsys.readouterr()
    assert out.startswith("streamed ") and " WARNING " not in err and " ERROR " not in err
