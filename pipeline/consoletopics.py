"""How the consoles (``dhag-pipeline alerts`` and ``label``, :mod:`pipeline.alertscmd`) reach Kafka: the
broker address they use (:func:`console_bootstrap`), their clients' options (:func:`client_options`),
and every record a topic retains, read without a consumer group (:func:`read_topic`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.alertsince import own_time_since, since_offsets, untimed_note
from pipeline.config import Settings
from pipeline.configvalues import EMBEDDED, check_addresses
from pipeline.kafkaclients import closed_on_failure
from pipeline.kafkatime import record_time

__all__ = ["STALL_S", "TopicMissingError", "client_options", "console_bootstrap", "read_topic"]


#: How long a read may make no progress before it gives up (seconds).
STALL_S = 30.0


class TopicMissingError(Exception):
    """The cluster has no such topic (or hides it from this client). Said of the alerts topic, the one
    :func:`~pipeline.alertscmd.read_episodes` raises it for (a missing labels topic holds no labels
    yet): no daemon wrote alerts there."""

    def __init__(self, topic: str, bootstrap: str) -> None:
        super().__init__(
            f"the topic {topic!r} (kafka.topics.alerts) is not on Kafka at {bootstrap}, or this client may "
            "not Describe it: no daemon has written alerts there; check --bootstrap and kafka.topics.alerts"
        )


def read_topic(
    bootstrap: str,
    topic: str,
    options: dict[str, Any],
    since: float | None = None,
    say: Callable[[str], None] | None = None,
    stall_s: float = STALL_S,
    newest: int | None = None,
) -> Iterator[Any]:
    """Every record the topic retains (``since``: those written to Kafka at or after that time, each
    partition read from its offset for it; ``say`` is told of partitions whose records carry no Kafka
    time: :mod:`pipeline.alertsince`), each partition's in offset order, as they come (the caller
    keeps what it needs of them, not the records); raises :class:`KafkaError` once a read has made no
    progress for ``stall_s``, however long a big topic takes to read while it makes some, and
    :class:`TopicMissingError` when the topic is not there. ``newest``: only that many of each
    partition's newest records (with ``since`` None), as ``label`` looks for its alert
    (:mod:`pipeline.labelfind`)."""
    consumer = closed_on_failure(
        KafkaConsumer, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **options
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            raise TopicMissingError(topic, bootstrap)
        consumer.assign(parts)
        since_ms = None if since is None else int(since * 1000)
        if newest is not None:
            first, last = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
            for tp in parts:
                consumer.seek(tp, max(first[tp], last[tp] - newest))
        elif since_ms is None:
            consumer.seek_to_beginning()
        else:
            for tp, offset in since_offsets(consumer, parts, since_ms).items():
                consumer.seek(tp, offset)
        ends = consumer.end_offsets(parts)
        deadline = time.monotonic() + stall_s
        quiet = 0
        untimed: set[int] = set()
        # Some Kafka-protocol brokers under-report end offsets: the end is also two empty polls.
        while quiet < 2 or any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise KafkaError(f"reading {topic} made no progress for {stall_s:g} s")
            batch = consumer.poll(timeout_ms=200)
            quiet = 0 if batch else quiet + 1
            if batch:
                deadline = time.monotonic() + stall_s
            for tp, messages in batch.items():
                for message in messages:  # a broker may start a partition a little earlier
                    if since_ms is None:
                        yield message
                    elif (written := record_time(message)) is not None:
                        if written >= since_ms / 1000:
                            yield message
                    else:  # no Kafka time: its own says
                        untimed.add(tp.partition)
                        if own_time_since(message, since_ms / 1000):
                            yield message
        if untimed and say is not None:
            say(untimed_note(topic, sorted(untimed)))
    finally:
        consumer.close()


def client_options(settings: Settings) -> dict[str, Any]:
    """The security settings, and ``kafka.request_timeout_ms`` for each request and for reaching the
    cluster at all: kafka-python's own bootstrap timeout (30 s) would otherwise keep a one-shot command
    waiting on a wrong address whatever the settings say."""
    timeout_ms = settings.kafka.request_timeout_ms
    return settings.kafka.security.client_options() | {
        "bootstrap_timeout_ms": timeout_ms,
        "request_timeout_ms": timeout_ms,
    }


def console_bootstrap(settings: Settings, given: str | None, err: TextIO) -> str | None:
    """The broker address a console uses: ``given`` (``--bootstrap``), else ``kafka.bootstrap_servers``;
    None, said on ``err``, for an embedded broker, which no other process can reach, and for a
    ``given`` that ``kafka.bootstrap_servers`` would refuse (:func:`~pipeline.configvalues.check_addresses`),
    before the client waits on it."""
    bootstrap = settings.kafka.bootstrap_servers if given is None else given
    if bootstrap == EMBEDDED:
        err.write(
            "this command needs the address of the broker the daemon uses: pass --bootstrap HOST:PORT or set "
            "kafka.bootstrap_servers (an embedded broker is private to the process that started it)\n"
        )
        return None
    try:
        return bootstrap if given is None else check_addresses(given)
    except ValueError as exc:
        err.write(f"--bootstrap: {exc}\n")
        return None
