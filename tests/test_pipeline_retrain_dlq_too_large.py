"""A label dead letter the labels' DLQ topic refuses as too large is set aside without its value, never
sent again as it was (pipeline.oversize, as the daemon's dead letters).

A dead letter carries its label's value (up to 512 KiB): more than a DLQ topic made with a small
``max.message.bytes`` takes. kafka-python fails such a send with MessageSizeTooLargeError (raised at
once over the producer's ``max_request_size``). Before, the label was read again and sent again
after every backoff, its offset never committed, a pending label never left the pending table, until
``kafka.unavailable_exit_s`` ended the run, on every restart. The embedded broker never applies a
topic's ``max.message.bytes``, so a producer here applies a limit as a broker would."""

from __future__ import annotations

import hashlib

import pytest
from kafka import TopicPartition
from kafka.errors import MessageSizeTooLargeError
from kafka.producer.future import FutureProduceResult
from test_pipeline_retrain_deadletters import _Consumer, _record, _retrainer

from pipeline.batchoutput import Outgoing
from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.labelstore import Source
from pipeline.oversize import size

DLQ = "operator-labels.dlq"
LABELS = TopicPartition("operator-labels", 0)


class _Limited:
    """A producer whose labels DLQ takes records of at most ``limit`` bytes (key, value, headers)."""

    def __init__(self, limit: int, max_request_size: int = 1 << 20) -> None:
        self.limit, self.max_request_size = limit, max_request_size
        self.sent: list[Outgoing] = []
        self.attempts = 0

    def send(self, topic: str, key=None, value=None, headers=None) -> FutureProduceResult:  # noqa: ANN001
        message = Outgoing(topic, key, value, list(headers or []))
        self.attempts += 1
        if size(message) > self.max_request_size:
            raise MessageSizeTooLargeError(f"The message is {size(message)} bytes when serialized")
        future = FutureProduceResult(TopicPartition(topic, 0))
        if size(message) > self.limit:
            future.failure(MessageSizeTooLargeError())
        else:
            future.success((0, 0))
            self.sent.append(message)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


def _sample(registry, name: str, labels: dict | None = None) -> float | None:  # noqa: ANN001
    return registry.get_sample_value(name, labels or {})


def test_a_label_whose_dead_letter_is_too_large_is_set_aside_without_its_value() -> None:
    retrainer, _, registry = _retrainer([1e9])
    consumer, producer = _Consumer(), _Limited(limit=4096)
    huge = b"x" * 40_000  # over retrain.max_label_bytes: refused as oversized, its dead letter too large
    consumer.batch = {LABELS: [_record(LABELS.topic, 7, huge)]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert consumer.commits == [{("operator-labels", 0): 8}] and consumer.seeks == []
    (letter,) = producer.sent
    headers = dict(letter.headers)
    assert (letter.topic, letter.value, headers["dlq.reason"]) == (DLQ, b"", b"oversized")
    assert headers["dlq.value_dropped"] == b"40000"
    assert headers["dlq.source.offset"] == b"7" and headers["dlq.truncated_from"] == b"40000"
    assert headers["dlq.original_sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert _sample(registry, "dhag_labels_dlq_total", {"reason": "oversized"}) == 1
    assert _sample(registry, "dhag_labels_dlq_too_large_total") == 1
    assert producer.attempts == 2  # once as it was, once without its value: never again


def test_a_pending_label_whose_dead_letter_is_too_large_leaves_the_pending_table() -> None:
    clock = [1e9]
    retrainer, store, registry = _retrainer(clock)
    consumer, producer = _Consumer(), _Limited(limit=400)
    raw = b'{"alert_id": "never-seen", "label": "confirmed", "note": "' + b"n" * 3000 + b'"}'
    store.add_pending("never-seen", raw, Source("operator-labels", 0, 2), first_seen=clock[0])
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]  # seen waiting
    clock[0] += Settings().retrain.label_retry_s + 1
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]  # expired: dead-lettered
    assert store.pending_count() == 0
    (letter,) = producer.sent
    assert letter.key == b"never-seen" and letter.value == b""
    assert dict(letter.headers)["dlq.reason"] == b"unknown_alert"
    assert _sample(registry, "dhag_labels_dlq_total", {"reason": "unknown_alert"}) == 1


def test_a_key_over_the_producers_limit_goes_without_it() -> None:
    # kafka-python refuses a record over max_request_size at send, before anything is sent.
    retrainer, _, registry = _retrainer([1e9])
    consumer, producer = _Consumer(), _Limited(limit=1 << 20, max_request_size=1 << 20)
    record = _record(LABELS.topic, 3, b"{broken")
    record.key = b"k" * (2 << 20)
    consumer.batch = {LABELS: [record]}
    retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert consumer.commits == [{("operator-labels", 0): 4}]
    (letter,) = producer.sent
    assert letter.key is None and dict(letter.headers)["dlq.key_dropped_from"] == str(2 << 20).encode()
    assert _sample(registry, "dhag_labels_dlq_too_large_total") == 1


def test_a_dlq_that_takes_no_dead_letter_at_all_stops_the_retrainer_naming_it() -> None:
    retrainer, _, _ = _retrainer([1e9])
    consumer, producer = _Consumer(), _Limited(limit=64)
    consumer.batch = {LABELS: [_record(LABELS.topic, 0, b"{broken")]}
    with pytest.raises(ConfigError, match=r"operator-labels\.dlq.*kafka\.topics\.labels_dlq.*max\.message"):
        retrainer._poll(consumer, producer)  # type: ignore[arg-type]
    assert consumer.commits == []
