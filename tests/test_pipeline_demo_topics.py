"""``dhag-pipeline demo`` on a configured cluster (not the embedded broker): its readings, labels, alerts
and consumer groups are its own (the configured names prefixed ``dhag-demo.``), never the plant's."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from pipeline.broker import EmbeddedBroker
from pipeline.config import load_settings
from pipeline.demotopics import demo_kafka
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--assets", "4", "--speedup", "30", "--fault-rate", "6", "--every", "5", "--operator-delay", "1"]
TRAIN = ["--history-hours", "2", "--max-epochs", "3", "--time-budget", "5"]


def _records(bootstrap: str, topic: str) -> int:
    """How many records ``topic`` holds (0 when it does not exist)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values()) if parts else 0
    finally:
        consumer.close()


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The offsets ``group`` committed on ``topic``, summed over its partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or ()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close()


@pytest.mark.integration
def test_the_demo_on_a_configured_cluster_uses_topics_and_groups_of_its_own(
    tmp_path: Path, tansu: EmbeddedBroker
) -> None:
    # Before: the demo streamed its readings into the configured input topic, its simulated operator
    # wrote labels to the configured labels topic (read by the plant's retrainer as operators'
    # answers), and its daemon joined the plant's consumer group.
    tag = uuid.uuid4().hex[:8]
    plant = {"input": f"plant-{tag}-readings", "alerts": f"plant-{tag}-alerts"}
    plant |= {"labels": f"plant-{tag}-labels", "labels_dlq": f"plant-{tag}-labels.dlq"}
    topics = "".join(f"    {key}: {name}\n" for key, name in plant.items())
    config = tmp_path / "plant.yaml"
    config.write_text(
        f"kafka:\n  bootstrap_servers: '{tansu.bootstrap_servers}'\n  group_id: plant-{tag}-daemons\n"
        f"  topics:\n{topics}retrain:\n  group_id: plant-{tag}-retrainers\n"
        "metrics:\n  port: 0\nshutdown_grace_s: 10\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "pipeline", "demo", *ARGS, *TRAIN, "--config", str(config)]
    cmd += ["--registry", str(tmp_path / "registry"), "--duration", "30"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bootstrap = tansu.bootstrap_servers
    for key in ("input", "labels", "alerts"):
        assert _records(bootstrap, plant[key]) == 0, key
    assert _records(bootstrap, f"dhag-demo.plant-{tag}-readings") > 500
    assert _records(bootstrap, f"dhag-demo.plant-{tag}-labels") >= 1
    assert _records(bootstrap, f"dhag-demo.plant-{tag}-alerts") >= 1
    # Its first screen names them.
    assert f"input dhag-demo.plant-{tag}-readings" in done.stdout
    assert f"labels dhag-demo.plant-{tag}-labels" in done.stdout
    assert f"dhag-demo.plant-{tag}-daemons (daemon), dhag-demo.plant-{tag}-retrainers" in done.stdout
    # Its daemon scored (committed) as a group of its own; the plant's group took nothing.
    readings = f"dhag-demo.plant-{tag}-readings"
    assert _committed(bootstrap, f"dhag-demo.plant-{tag}-daemons", readings) > 0
    assert _committed(bootstrap, f"plant-{tag}-daemons", readings) == 0


def test_the_embedded_broker_keeps_the_configured_names() -> None:
    settings = load_settings(None, {})
    kafka = demo_kafka(settings)
    assert kafka.settings is settings and not kafka.overrides and not kafka.lines
    assert kafka.truth_topic == "sensor-truth"


def test_derived_names_keep_the_prefix_once_and_pass_the_topic_name_checks() -> None:
    environ = {
        "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka1:9092",
        "DHAG_PIPELINE_KAFKA__TOPICS__ALERTS": "dhag-demo.alerts",
        "DHAG_PIPELINE_KAFKA__TOPICS__SCORES": "scores",
    }
    kafka = demo_kafka(load_settings(None, environ))
    t = kafka.settings.kafka.topics
    assert (t.input, t.alerts, t.dlq_topic) == (
        "dhag-demo.sensor-readings",
        "dhag-demo.alerts",
        "dhag-demo.sensor-readings.dlq",
    )
    assert (t.labels, t.labels_dlq, t.scores) == (
        "dhag-demo.operator-labels",
        "dhag-demo.operator-labels.dlq",
        "dhag-demo.scores",
    )
    assert kafka.truth_topic == "dhag-demo.sensor-truth"
    assert kafka.overrides["KAFKA__GROUP_ID"] == "dhag-demo.dhag-pipeline"
    assert kafka.overrides["RETRAIN__GROUP_ID"] == "dhag-demo.dhag-retrainer"
    # The children read the same settings from the overrides.
    child = load_settings(None, environ | {f"DHAG_PIPELINE_{k}": v for k, v in kafka.overrides.items()})
    assert child.kafka.topics == t and child.kafka.group_id == "dhag-demo.dhag-pipeline"
    # A configured name that fits Kafka's 249 characters, but not with the prefix: refused, one line.
    long = "x" * 245
    with pytest.raises(ConfigError) as refused:
        demo_kafka(load_settings(None, environ | {"DHAG_PIPELINE_KAFKA__TOPICS__LABELS": long}))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("demo: on kafka.bootstrap_servers kafka1:9092 ")
    assert "the topic for kafka.topics.labels: 'dhag-demo.xxx" in message and "1 to 249" in message
    # Two configured names that become one: the config's rule between topics refuses it.
    clash = environ | {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "alerts"}
    with pytest.raises(ConfigError, match="each topic needs its own name"):
        demo_kafka(load_settings(None, clash))


def test_the_demo_s_children_serve_the_metrics_its_screen_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a config with metrics.enabled false (a plant's, given with --config) left its daemon and
    # retrainer without an endpoint: the screen showed 0 records/s and no model version, the summary
    # model_at_end null and no retraining runs, while its first screen named a metrics URL.
    from pipeline import demo, demochildren

    config = tmp_path / "plant.yaml"
    config.write_text("metrics:\n  enabled: false\n  port: 9110\n")  # retrain.metrics_port's, unused
    monkeypatch.delenv("DHAG_PIPELINE_METRICS__ENABLED", raising=False)
    started: list[dict[str, str]] = []
    monkeypatch.setattr(demochildren.subprocess, "Popen", lambda cmd, env, **_: started.append(env))
    opts = demo.DemoOptions(config=str(config), registry=str(tmp_path / "registry"))
    settings = load_settings(config, {})
    demochildren.start_daemon(settings, opts, "127.0.0.1:1", 9110)  # the configured port, free
    demochildren.start_retrainer(settings, opts, "127.0.0.1:1", tmp_path / "labels.sqlite", {})
    for env in started:
        child = load_settings(config, env)
        assert child.metrics.enabled, env.get("DHAG_PIPELINE_METRICS__ENABLED")
    assert load_settings(config, started[0]).metrics.port == 9110
