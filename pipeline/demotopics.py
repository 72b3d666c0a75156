"""The demo's own topics and consumer groups on a cluster other than the embedded broker.

A config that names a real cluster (``kafka.bootstrap_servers``) names the plant's topics and groups
too: the demo streams simulated readings, writes simulated operators' labels and joins consumer groups.
There, every topic it writes or reads and both groups (the daemon's, the retrainer's) are the
configured ones with :data:`DEMO_PREFIX` in front (a name already starting with it is kept), so the
plant's daemons and retrainer never see them. With the embedded broker (``make run``) nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.config import Settings
from pipeline.configchecks import cross_key_problems
from pipeline.configvalues import check_topic_name
from pipeline.democonsole import TRUTH_TOPIC
from pipeline.errors import ConfigError

__all__ = ["DEMO_PREFIX", "DemoKafka", "demo_kafka", "demo_name"]

DEMO_PREFIX = "dhag-demo."


def demo_name(name: str) -> str:
    """``name`` with :data:`DEMO_PREFIX` in front, unless it starts with it already.

    >>> demo_name("sensor-readings"), demo_name("dhag-demo.sensor-readings")
    ('dhag-demo.sensor-readings', 'dhag-demo.sensor-readings')
    """
    return name if name.startswith(DEMO_PREFIX) else DEMO_PREFIX + name


@dataclass(frozen=True)
class DemoKafka:
    """The settings the demo runs with, the overrides that give its children the same, the topic of
    its ground truth, and the lines naming them for its first screen (none with the embedded broker)."""

    settings: Settings
    overrides: dict[str, str] = field(default_factory=dict)
    truth_topic: str = TRUTH_TOPIC
    lines: list[str] = field(default_factory=list)


def demo_kafka(settings: Settings) -> DemoKafka:
    """The demo's topics and groups for ``settings``: the configured ones with the embedded broker,
    else each prefixed (:func:`demo_name`).

    Raises :class:`~pipeline.errors.ConfigError`, one line, when a derived name is no Kafka topic name
    (too long) or breaks a rule between the topic keys, before anything starts."""
    kafka = settings.kafka
    if kafka.embedded:
        return DemoKafka(settings)
    t = kafka.topics
    topics = {"input": t.input, "alerts": t.alerts, "dlq": t.dlq_topic, "labels": t.labels}
    topics |= {"labels_dlq": t.labels_dlq} | ({"scores": t.scores} if t.scores else {})
    derived = {key: demo_name(name) for key, name in topics.items()}
    truth = demo_name(TRUTH_TOPIC)
    problems = []
    for key, name in (derived | {"truth": truth}).items():
        try:
            check_topic_name(name)
        except ValueError as exc:
            source = f"kafka.topics.{key}" if key != "truth" else "its ground truth"
            problems.append(f"the topic for {source}: {exc}")
    groups = {"group_id": demo_name(kafka.group_id)}
    retrain_group = demo_name(settings.retrain.group_id)
    new = settings.model_copy(
        update={
            "kafka": kafka.model_copy(update={"topics": t.model_copy(update=derived)} | groups),
            "retrain": settings.retrain.model_copy(update={"group_id": retrain_group}),
        }
    )
    if not problems:
        problems = [p.removeprefix("config error: ") for p in cross_key_problems(new, {})]
    if problems:
        raise ConfigError(
            f"demo: on kafka.bootstrap_servers {kafka.bootstrap_servers} the demo uses topics and "
            f"consumer groups of its own, the configured names with {DEMO_PREFIX!r} in front: "
            f"{'; '.join(problems)}; shorten or rename the configured ones"
        )
    overrides = {f"KAFKA__TOPICS__{key.upper()}": name for key, name in derived.items()}
    overrides |= {"KAFKA__GROUP_ID": groups["group_id"], "RETRAIN__GROUP_ID": retrain_group}
    named = ", ".join(f"{key} {name}" for key, name in (derived | {"truth": truth}).items())
    lines = [
        f"cluster {kafka.bootstrap_servers} (not the embedded broker): the demo's own topics, apart "
        f"from the configured ones: {named}; consumer groups {groups['group_id']} (daemon), "
        f"{retrain_group} (retrainer)"
    ]
    return DemoKafka(new, overrides, truth, lines)
