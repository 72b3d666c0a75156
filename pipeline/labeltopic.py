"""The labels topic for ``dhag-pipeline label``: created as the services create their topics when it is
missing (no retrainer has run yet), never left to a broker's auto-creation.

A broker that creates a topic when something first writes to it gives it its own default partition
count (4 on the embedded broker), and the retrainer then runs on a topic with another count than
``kafka.topics.partitions`` (partitions can be added, never removed). So ``label`` looks first: a
missing topic is created with ``kafka.topics.partitions`` when ``kafka.topics.create_missing`` is true.
When it may not be created (``create_missing`` false, or Kafka refuses the Create permission, which an
operator's console often lacks), ``label`` writes nothing and says what to do: start the retrainer
once (it creates its topics) or have the topic created. Falling back to a plain write would not help:
Kafka's auto-creation needs that same permission, and would give the wrong partition count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import AuthorizationError, TopicAlreadyExistsError

from pipeline.config import Settings, TopicSettings
from pipeline.kafkaclients import closed_on_failure
from pipeline.topics import LABELS_TOPIC_CONFIGS

__all__ = ["LabelTopicError", "ensure_labels_topic", "unchecked_warning"]


class LabelTopicError(Exception):
    """The labels topic is missing and this command may not create it; the message says what to do."""


def ensure_labels_topic(topics: TopicSettings, bootstrap: str, options: Mapping[str, Any]) -> bool:
    """True when the labels topic was created now, False when it was there already.

    Raises :class:`LabelTopicError` when it is missing and may not be created, and kafka-python's
    errors when Kafka cannot be reached or refuses the client's credentials."""
    name, partitions = topics.labels, topics.partitions
    what = (
        f"the labels topic {name} does not exist on {bootstrap}, and {{why}}: no label was written; start "
        f"the retrainer first (`dhag-pipeline retrain`, which creates its topics), or have {name} created "
        f"with {partitions} partitions (kafka.topics.partitions), then label again"
    )
    admin = closed_on_failure(KafkaAdminClient, bootstrap_servers=bootstrap, **options)
    try:
        if name in set(admin.list_topics()):
            return False
        if not topics.create_missing:
            raise LabelTopicError(what.format(why="kafka.topics.create_missing is false"))
        try:
            # -1: the broker's default replication factor, as the services create their topics.
            admin.create_topics([NewTopic(name, partitions, -1, topic_configs=dict(LABELS_TOPIC_CONFIGS))])
        except TopicAlreadyExistsError:
            return False  # created meanwhile (a retrainer starting, another console)
        except AuthorizationError as exc:
            why = f"Kafka refused to create it ({type(exc).__name__}: the client lacks the Create permission)"
            raise LabelTopicError(what.format(why=why)) from None
        return True
    finally:
        admin.close()


def unchecked_warning(alert_id: str, settings: Settings) -> str:
    """What ``label --unchecked`` says on stderr: the alert was not looked for, and what the retrainer
    does with a label of an alert it does not know either."""
    kept = settings.retrain.alert_retention_s
    keeps = "for good" if kept is None else f"for {kept / 86400:g} days, retrain.alert_retention_s"
    return (
        f"not checked: alert {alert_id!r} was not looked for on the topic {settings.kafka.topics.alerts!r} "
        f"(--unchecked). The retrainer keeps alerts {keeps}, longer than the topic may; if it does not know "
        f"this alert either, it dead-letters the label to {settings.kafka.topics.labels_dlq!r} "
        f"(dlq.reason unknown_alert) after retrain.label_retry_s ({settings.retrain.label_retry_s:g} s)"
    )
