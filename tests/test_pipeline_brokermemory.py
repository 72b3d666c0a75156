"""The embedded Tansu broker keeps every record in memory and deletes none: what it does not do (retention,
DeleteRecords), and how the service makes its growth visible (a gauge, and a warning at every step)."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from prometheus_client import CollectorRegistry

from pipeline.broker import EmbeddedBroker, export_broker_memory

RECORD = b'{"asset_id": "pump-07", "ts": "2026-01-01T00:00:00Z", "sensors": {' + b'"s": 1.5, ' * 40 + b"}}"


def _produce(broker: EmbeddedBroker, topic: str, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5)
    try:
        for i in range(count):
            producer.send(topic, RECORD, key=f"pump-{i % 24:02d}".encode())
        producer.flush()
    finally:
        producer.close()


def _create(broker: EmbeddedBroker, topic: str, **configs: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
    finally:
        admin.close()


def test_tansu_keeps_records_past_their_retention(tansu: EmbeddedBroker) -> None:
    # Why the service cannot bound the broker with topic retention: Tansu accepts retention.ms at
    # creation but never deletes by it. A Tansu that starts to honour it fails this test, and then
    # retention is the better bound.
    _create(tansu, "retention-probe", **{"retention.ms": "500", "retention.bytes": "1024"})
    _produce(tansu, "retention-probe", 200)
    time.sleep(3)
    consumer = KafkaConsumer(bootstrap_servers=tansu.bootstrap_servers)
    try:
        partition = TopicPartition("retention-probe", 0)
        assert consumer.beginning_offsets([partition])[partition] == 0
    finally:
        consumer.close()


def test_the_broker_reports_its_memory_which_grows_with_the_records_it_holds() -> None:
    with EmbeddedBroker() as broker:
        _create(broker, "growth")
        before = broker.memory_bytes()
        assert before > 1_000_000  # a running broker has a resident set
        _produce(broker, "growth", 20_000)  # about 10 MB of records
        time.sleep(0.5)
        assert broker.memory_bytes() - before > 5_000_000
    assert math.isnan(broker.memory_bytes())  # stopped: nothing to report


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.broker"]


def test_a_warning_names_the_remedy_each_time_the_memory_passes_another_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pipeline.broker")
    # Steps of 4 MiB: the broker's resident set at start already passes the first.
    with EmbeddedBroker(memory_warn_bytes=4 << 20, memory_check_s=3600) as broker:
        assert broker.check_memory() > 4 << 20
        first = _warnings(caplog)
        assert len(first) == 1 and "kafka.bootstrap_servers" in first[0] and "MiB" in first[0]
        broker.check_memory()
        assert len(_warnings(caplog)) == 1  # the same step warns once
        _create(broker, "steps")
        _produce(broker, "steps", 20_000)
        time.sleep(0.5)
        broker.check_memory()
        assert len(_warnings(caplog)) == 2


def test_the_watch_runs_on_its_own_while_the_broker_runs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pipeline.broker")
    with EmbeddedBroker(memory_warn_bytes=1 << 20, memory_check_s=0.05):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _warnings(caplog):
            time.sleep(0.05)
        assert _warnings(caplog) and "in memory" in _warnings(caplog)[0]


def test_the_gauge_reads_the_running_broker() -> None:
    registry = CollectorRegistry()
    broker = EmbeddedBroker()
    export_broker_memory(broker, registry)
    assert math.isnan(registry.get_sample_value("dhag_embedded_broker_memory_bytes"))
    with broker:
        value = registry.get_sample_value("dhag_embedded_broker_memory_bytes")
        assert value == pytest.approx(broker.memory_bytes(), rel=0.2) and value > 1_000_000


_CTRL_C_CHILD = """
import signal, sys, time
from pipeline.broker import EmbeddedBroker
signal.signal(signal.SIGINT, lambda *_: None)  # the process that started it stops it in its own time
broker = EmbeddedBroker().start()
print("up", flush=True)
sys.stdin.readline()
time.sleep(0.5)
print("alive" if broker._proc.poll() is None else f"dead {broker._proc.returncode}", flush=True)
broker.stop()
"""


def test_a_ctrl_c_at_the_terminal_leaves_the_broker_to_the_process_that_started_it() -> None:
    # Ctrl-C sends SIGINT to the terminal's whole foreground process group. A broker in that group
    # died at once, before the daemon beside it had committed its last batch or left its group (a
    # warning and a slow stop on every Ctrl-C of `make run`); the process that started it stops it.
    child = subprocess.Popen(
        [sys.executable, "-c", _CTRL_C_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, standing for the terminal's foreground group
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "up"
        os.killpg(child.pid, signal.SIGINT)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "alive"
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
