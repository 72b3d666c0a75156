"""Building a kafka-python client so that a failed build leaves nothing open.

kafka-python starts a client's network thread and opens its sockets before it first reaches a broker,
and when that fails raises from the constructor with them still running: the thread of a consumer or
an admin client for the life of the process, a producer's sockets until the garbage collector comes.
Every retry of an outage (the daemon's, the retrainer's) would leave one more behind, and a one-shot
console its thread logging reconnections until it exits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

__all__ = ["close_producer", "closed_on_failure"]

_KAFKA_CLIENT = KafkaConsumer.DEFAULT_CONFIG["kafka_client"]
_Client = TypeVar("_Client")


def closed_on_failure(build: Callable[..., _Client], **options: Any) -> _Client:
    """``build(kafka_client=..., **options)`` (a KafkaConsumer, KafkaProducer or KafkaAdminClient);
    when it raises, the network clients it made are closed, their threads stopped, before the error
    goes on."""
    made: list[Any] = []

    def client(**config: Any) -> Any:  # kafka-python's documented `kafka_client` hook
        made.append(_KAFKA_CLIENT(**config))
        return made[-1]

    try:
        return build(kafka_client=client, **options)
    except BaseException:
        for inner in made:
            with contextlib.suppress(Exception):
                inner.close()
        raise


def close_producer(producer: KafkaProducer, timeout_s: float) -> KafkaError | None:
    """Close ``producer`` within about ``timeout_s`` (and a second), whatever it still holds; returns
    the error its flush raised (records left undelivered: a broker gone, a topic deleted), or None when
    it delivered everything.

    The records left are failed (kafka-python's forced close of its sender: they would each fail by
    themselves only after the producer's ``delivery_timeout_ms``), so the producer closes for good and
    nothing raises later from its ``__del__`` or at the process's exit."""
    try:
        producer.close(timeout=timeout_s)
        return None
    except KafkaError as exc:
        failed = exc
    force = getattr(getattr(producer, "_sender", None), "force_close", None)  # no public call for it
    if callable(force):
        force()
    with contextlib.suppress(KafkaError):
        producer.close(timeout=1.0)
    return failed
