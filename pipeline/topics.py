"""Topic provisioning: the topics a service consumes and produces, checked and created before it starts.

:func:`ensure_topics` looks once; :func:`provision_topics` is how the services call it, retrying a
cluster that cannot be reached. Refused credentials or permissions stop start-up at once as a
:class:`~pipeline.errors.ConfigError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import AuthorizationError, KafkaError, TopicAlreadyExistsError

from pipeline.backoff import Backoff
from pipeline.brokerlink import AUTHENTICATION_FAILURES, authentication_refused
from pipeline.config import KafkaSettings
from pipeline.errors import BrokerUnavailableError, ConfigError
from pipeline.kafkaclients import closed_on_failure

__all__ = ["LABELS_TOPIC_CONFIGS", "ensure_topics", "provision_topics"]

log = logging.getLogger("pipeline.broker")  # its lines read as the broker plumbing's, as they always have

# The labels topic keeps the broker's time on its records: the retrainer bounds a label's given time
# below by its record time (pipeline.labelorder.given_rank), which then comes from one clock, not from
# the clock of whichever console or tool produced it. Asked when the topic is created; a topic created
# beforehand keeps what it was given (docs/feedback.md, "Answers that differ").
LABELS_TOPIC_CONFIGS: Mapping[str, str] = {"message.timestamp.type": "LogAppendTime"}


def ensure_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    *,
    create_missing: bool,
    replication_factor: int = -1,
    client_options: Mapping[str, Any] | None = None,
    timeout_s: float = 10.0,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """Make sure ``topics`` (name -> partitions) exist; returns the names created.

    Missing topics are created when ``create_missing`` is true (``replication_factor=-1`` leaves it
    to the broker's default, ``configs`` a topic's settings by its name), otherwise a
    :class:`ConfigError` names them. Existing topics are left
    as they are; one with another partition count than asked for (a broker that auto-created it when
    something produced to it first) is logged as a warning naming both counts. Raises
    :class:`BrokerUnavailableError` when the cluster cannot be reached, and :class:`ConfigError` when it
    refuses the client's credentials (a failed authentication) or the permission to describe or create
    them (an authorization error): no retry would change either.
    """
    try:
        admin = closed_on_failure(
            KafkaAdminClient,
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=int(timeout_s * 1000),
            bootstrap_timeout_ms=int(timeout_s * 1000),
            **dict(client_options or {}),
        )
    except AUTHENTICATION_FAILURES as exc:
        raise authentication_refused(exc, bootstrap_servers) from None
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from None
    try:
        doing = f"describe the topics on {bootstrap_servers} (Describe)"
        listed = admin.describe_topics()
        existing = {t["name"] for t in listed}
        # A topic listed with an error of its own (no leader yet: just created by another process) may
        # come without its partitions: its count says nothing then.
        counts = {
            t["name"]: len(t["partitions"]) for t in listed if t.get("partitions") and not t.get("error_code")
        }
        for name, partitions in topics.items():
            if name in counts and counts[name] != partitions:
                log.warning(
                    "topic %s has %d partitions where %d were asked for (kafka.topics.partitions); it is "
                    "used as it is (partitions can be added to a topic, never removed)",
                    name,
                    counts[name],
                    partitions,
                )
        missing = [name for name in topics if name not in existing]
        if not missing:
            return []
        if not create_missing:
            raise ConfigError(
                f"config error: topics {missing} do not exist on {bootstrap_servers} and "
                "kafka.topics.create_missing is false; create them or allow creation"
            )
        created = []
        for name in missing:
            doing = f"create topic {name} on {bootstrap_servers} (Create)"
            try:
                given = dict((configs or {}).get(name, {}))
                admin.create_topics([NewTopic(name, topics[name], replication_factor, topic_configs=given)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another replica
        log.info("created topics %s", created)
        return created
    except AuthorizationError as exc:  # no retry: the broker answered, and refuses
        raise ConfigError(
            f"config error: Kafka refused to {doing}: {type(exc).__name__}; the client (kafka.security) "
            f"needs that permission on topics {sorted(topics)}, or create them beforehand"
        ) from None
    except AUTHENTICATION_FAILURES as exc:
        raise authentication_refused(exc, bootstrap_servers) from None
    except KafkaError as exc:
        raise BrokerUnavailableError(f"cannot list or create topics on {bootstrap_servers}: {exc}") from None
    finally:
        admin.close()


def provision_topics(
    kafka: KafkaSettings, bootstrap: str, topics: Mapping[str, int], *, replication_factor: int = -1
) -> None:
    """:func:`ensure_topics` as the services run it before they consume or produce (``kafka.topics
    .create_missing``, the security settings), retrying an unreachable cluster with backoff until
    ``kafka.unavailable_exit_s``, then raising :class:`BrokerUnavailableError`. Refused credentials or a
    refused permission (:class:`ConfigError`) stop it at once. The labels topic, when it is among
    ``topics``, is created with :data:`LABELS_TOPIC_CONFIGS`."""
    backoff = Backoff(kafka.backoff_initial_s, kafka.backoff_max_s)
    deadline = time.monotonic() + kafka.unavailable_exit_s
    while True:
        left = deadline - time.monotonic()
        try:
            ensure_topics(
                bootstrap,
                topics,
                create_missing=kafka.topics.create_missing,
                replication_factor=replication_factor,
                client_options=kafka.security.client_options(),
                timeout_s=max(1.0, min(10.0, left)),
                configs={kafka.topics.labels: LABELS_TOPIC_CONFIGS},
            )
            return
        except BrokerUnavailableError as exc:
            if time.monotonic() + backoff.maximum >= deadline:
                raise BrokerUnavailableError(f"{exc} (for {kafka.unavailable_exit_s}s)") from None
            log.warning("%s; retrying", exc)
            time.sleep(backoff.next_delay())
