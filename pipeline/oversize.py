"""Output records Kafka refuses as too large: set aside as dead letters, never retried as they are.

A topic takes records of at most its ``max.message.bytes`` (the broker's ``message.max.bytes`` by
default, about 1 MiB), and the producer sends none over its ``max_request_size`` (1 MiB). kafka-python
(3.0) splits a batch the broker refused as too large (``MESSAGE_TOO_LARGE``) and sends the halves again
until the record refused stands alone; that record's send then fails with
``MessageSizeTooLargeError`` (``RecordListTooLargeError`` from some brokers), one over
``max_request_size`` fails at once. No retry changes a size: a batch rewound and sent again for it
would fail on every attempt, send its other output again each time, and hold its partitions back until
``kafka.unavailable_exit_s`` ended the run, after every restart. The input is not at fault alone: a
dead letter carries its record's value (up to :data:`~pipeline.records.DLQ_VALUE_LIMIT`), more than a
dead-letter topic made with a small ``max.message.bytes`` takes.

So :class:`~pipeline.delivery.Delivery` sends each record refused for its size again, smaller
(:func:`smaller`): an alert or a score goes to the dead-letter topic with reason ``output_too_large``
(:data:`OUTPUT_TOO_LARGE`), its value (cut as a dead letter's is) and headers naming the topic that
refused it; a dead letter goes again without its value (``dlq.value_dropped``; its record stays in its
topic at ``dlq.source.*``, its size and SHA-256 in ``dlq.truncated_from`` and ``dlq.original_sha256``),
and without its key when that is over :data:`KEY_LIMIT` bytes (``dlq.key_dropped_from``). Each refusal
is counted in ``dhag_outputs_too_large_total{output}`` and logged. A dead-letter topic that refuses even
a dead letter without its value cannot hold what the daemon must set aside: :func:`smaller` raises
:class:`~pipeline.errors.ConfigError` (exit code 2), naming the topic and ``max.message.bytes``.

The retrainer sets its label dead letters aside so too (:func:`without_value`,
:mod:`pipeline.retrain.deadletters`).
"""

from __future__ import annotations

import hashlib
import time

from kafka.errors import MessageSizeTooLargeError, RecordListTooLargeError

from pipeline.batchoutput import Outgoing
from pipeline.config import TopicSettings
from pipeline.errors import ConfigError
from pipeline.records import dlq_detail, dlq_value

__all__ = [
    "KEY_LIMIT",
    "OUTPUTS",
    "OUTPUT_TOO_LARGE",
    "SIZE_REFUSALS",
    "output_of",
    "size",
    "smaller",
    "without_value",
]

OUTPUT_TOO_LARGE = "output_too_large"  # the dlq.reason of an alert or score set aside
OUTPUTS = ("alerts", "scores", "dlq")  # the outputs_too_large label: which output a refused record was
SIZE_REFUSALS = (MessageSizeTooLargeError, RecordListTooLargeError)
KEY_LIMIT = 1024  # a dead letter sent again without its value keeps a key of at most this many bytes


def output_of(topics: TopicSettings, topic: str) -> str:
    """Which of :data:`OUTPUTS` ``topic`` is (a bounded label, never the topic's name)."""
    if topic == topics.dlq_topic:
        return "dlq"
    return "scores" if topic == topics.scores else "alerts"


def size(message: Outgoing) -> int:
    """The bytes of ``message``'s key, value and headers."""
    headers = sum(len(name.encode()) + len(value) for name, value in message.headers)
    return len(message.key or b"") + len(message.value) + headers


def _dropped(message: Outgoing) -> bool:
    return any(name == "dlq.value_dropped" for name, _ in message.headers)


def smaller(topics: TopicSettings, message: Outgoing, error: BaseException) -> Outgoing:
    """What goes to the dead-letter topic in place of ``message``, refused with ``error`` for its
    size (see the module); raises :class:`ConfigError` when ``message`` was that already."""
    dlq = topics.dlq_topic
    if message.topic != dlq:
        detail = (
            f"a record of {size(message)} bytes for topic {message.topic!r} was refused as too large "
            f"({type(error).__name__}); check the topic's max.message.bytes"
        )
        value, cut = dlq_value(message.value)
        headers = [
            ("dlq.reason", OUTPUT_TOO_LARGE.encode()),
            ("dlq.detail", dlq_detail(detail)),
            ("dlq.output.topic", message.topic.encode()),
            ("dlq.first_seen", f"{time.time():.3f}".encode()),
        ]
        return Outgoing(dlq, message.key, value, headers + message.headers + cut)
    return without_value(message, error, setting="kafka.topics.dlq")


def without_value(message: Outgoing, error: BaseException, *, setting: str) -> Outgoing:
    """The dead letter ``message``, refused with ``error`` for its size, without its value (and without
    a key over :data:`KEY_LIMIT` bytes), saying so in its headers; raises :class:`ConfigError` naming
    the topic and ``setting`` (where it is configured) when ``message`` was that already."""
    if _dropped(message):
        raise ConfigError(
            f"config error: the dead-letter topic {message.topic!r} ({setting}) refused a dead letter of "
            f"{size(message)} bytes without its value as too large ({error}): nothing can be set aside "
            f"there; raise the topic's max.message.bytes (and the broker's message.max.bytes)"
        )
    headers = list(message.headers)
    named = {name for name, _ in headers}
    if "dlq.truncated_from" not in named:
        headers.append(("dlq.truncated_from", str(len(message.value)).encode()))
    if "dlq.original_sha256" not in named:
        headers.append(("dlq.original_sha256", hashlib.sha256(message.value).hexdigest().encode()))
    headers.append(("dlq.value_dropped", str(len(message.value)).encode()))
    key = message.key
    if key is not None and len(key) > KEY_LIMIT:
        headers.append(("dlq.key_dropped_from", str(len(key)).encode()))
        key = None
    return Outgoing(message.topic, key, b"", headers)
