"""The retrainer's Kafka clients: a consumer that is assigned its partitions (one singleton under
``retrain.group_id``, committing by hand) and an ``acks=all`` producer for label dead letters. Both take
the ``kafka`` settings the daemon's clients take (:func:`~pipeline.brokerlink.client_options`; the
consumer the fetch settings too, the producer the daemon's producer's bounds,
:func:`~pipeline.brokerlink.producer_options`), under a client id of their own."""

from __future__ import annotations

import contextlib

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from pipeline.brokerlink import (
    AUTHENTICATION_FAILURES,
    authentication_refused,
    client_options,
    producer_options,
)
from pipeline.config import Settings
from pipeline.configvalues import RETRAINER_CLIENT
from pipeline.errors import BrokerUnavailableError
from pipeline.kafkaclients import closed_on_failure

__all__ = ["retrainer_clients"]

_CLOSE_MS = 1000  # closing a consumer that never fetched: nothing to wait for


def retrainer_clients(settings: Settings, bootstrap: str) -> tuple[KafkaConsumer, KafkaProducer]:
    """Both clients on ``bootstrap``; raises :class:`BrokerUnavailableError` when it cannot be reached,
    :class:`~pipeline.errors.ConfigError` when it refuses the client's credentials. When the producer
    cannot be built, the consumer built before it is closed before the error is raised."""
    kafka = settings.kafka
    # The daemon's: metadata refresh (partitions added: seen within it), reconnect backoff, security.
    own = {
        "client_id": kafka.client_id + RETRAINER_CLIENT,
        # An unreachable cluster is given up on within the request timeout, not kafka-python's own 30 s.
        "bootstrap_timeout_ms": kafka.request_timeout_ms,
    }
    common = client_options(kafka, bootstrap) | own
    try:
        consumer = closed_on_failure(
            KafkaConsumer,
            group_id=settings.retrain.group_id,
            enable_auto_commit=False,
            max_poll_records=kafka.batch_size,
            # Each fetch as the daemon's: how long the broker may hold it, and how much it may return.
            fetch_max_wait_ms=kafka.fetch_max_wait_ms,
            fetch_max_bytes=kafka.fetch_max_bytes,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
            # Assigned its partitions, it never joins a group: the session timeout bounds none of its
            # requests (and above kafka-python's idle-connection limit it would refuse to build). The
            # request timeout is client_options' own.
            # Every start position is sought explicitly; this applies when a position falls out of what
            # a topic retains while it runs (retention overtook a retrainer held up for days): read on
            # from the oldest record kept, not skip every alert and label still retained (the default).
            auto_offset_reset="earliest",
            **common,
        )
        try:
            # The daemon's producer's (acks=all, bounded sends): with Kafka gone, a dead letter's or a
            # candidate announcement's send holds its loop seconds, not kafka-python's 60 s.
            producer = closed_on_failure(KafkaProducer, **(producer_options(kafka, bootstrap) | own))
        except BaseException:
            # Else its thread and sockets stay behind, one more at every retry while Kafka is down.
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=_CLOSE_MS)
            raise
    except AUTHENTICATION_FAILURES as exc:
        raise authentication_refused(exc, bootstrap) from None
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    return consumer, producer
