"""``dhag-pipeline demo`` when Kafka fails it after its topics are made: a client that cannot be made, a
read or a send refused, the broker gone, a topic deleted. Run in-process with its children and every
kafka-python client faked (:mod:`demo_support`): one line says what failed, where, and it stops in
order, with its summary and the documented exit code, leaving nothing behind."""

from __future__ import annotations

import io
import json
import math
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from demo_support import Faults, Proc, fake_clients
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from kafka.future import Future

import pipeline.demo as demo
import pipeline.simulator.deliveries as demo_deliveries
from pipeline.config import load_settings

CLUSTER = {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka-1:9093"}


class Demo:
    """One in-process demo run: its exit code, what it wrote, its children and its temporary folder."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: Faults) -> None:
        fake_clients(monkeypatch, faults)
        self.children: list[Proc] = []
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(self.tmp))  # its label store's folder goes there
        monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
        monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: self._child())
        monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (self._child(), 1))
        self.opts = demo.DemoOptions(duration=3.0, assets=2, every=60.0, registry=str(tmp_path / "reg"))

    def _child(self) -> Proc:
        self.children.append(Proc())
        return self.children[-1]

    def run(self) -> tuple[int, str]:
        out = io.StringIO()
        code = demo.run_demo(load_settings(None, CLUSTER), self.opts, out)
        return code, out.getvalue()

    def left_behind(self) -> list[str]:
        return [p.name for p in self.tmp.iterdir()]


def _second(error: BaseException) -> Any:
    """A constructor that fails the second time it is called (the simulated plant's producer, made after
    the simulated operator's)."""
    calls = []

    def make(_client: Any, **__: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise error

    return make


@pytest.mark.parametrize(
    ("faults", "said"),
    [
        (  # the broker gone just after the topics were created
            {("KafkaProducer", "__init__"): KafkaTimeoutError("Unable to bootstrap from kafka-1:9093")},
            "making the simulated operator's producer: KafkaTimeoutError",
        ),
        (
            {("KafkaConsumer", "__init__"): KafkaConnectionError("Connection refused")},
            "making its reader of dhag-demo.anomaly-alerts and dhag-demo.sensor-truth: KafkaConnectionError",
        ),
        (
            {("KafkaConsumer", "partitions_for_topic"): KafkaTimeoutError("no metadata in 30 s")},
            "making its reader of dhag-demo.anomaly-alerts and dhag-demo.sensor-truth: KafkaTimeoutError",
        ),
        (  # a topic deleted while it runs
            {("KafkaConsumer", "poll"): UnknownTopicOrPartitionError()},
            "reading dhag-demo.anomaly-alerts and dhag-demo.sensor-truth: "
            "[Error 3] UnknownTopicOrPartitionError",
        ),
        (
            {
                ("KafkaProducer", "__init__"): _second(
                    KafkaTimeoutError("Unable to bootstrap from kafka-1:9093")
                )
            },
            "streaming the plant to dhag-demo.sensor-readings: KafkaTimeoutError",
        ),
        (
            {("KafkaProducer", "send"): KafkaTimeoutError("Failed to update metadata after 60.0 secs.")},
            "streaming the plant to dhag-demo.sensor-readings: KafkaTimeoutError",
        ),
    ],
)
def test_kafka_failing_the_demo_once_its_topics_are_made_stops_it_with_one_line_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: Faults, said: str
) -> None:
    # Before: a traceback out of the command (kafka-python's error, which its CLI did not catch), no
    # summary; or, for the simulated plant's thread, a thread's traceback and 'the simulator stopped',
    # exit 1.
    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    run = Demo(tmp_path, monkeypatch, faults)
    code, out = run.run()
    assert code == 3, out
    failed = [line for line in out.splitlines() if line.startswith("demo: Kafka at kafka-1:9093 failed")]
    assert len(failed) == 1 and said in failed[0] and failed[0].endswith("; stopping"), out
    assert out.splitlines()[-1].startswith("summary: ")
    assert hooked == [] and "Traceback" not in out
    assert run.left_behind() == []
    assert all(child.signals for child in run.children)  # stopped in order


def test_kafka_refusing_the_demo_a_topic_says_which_acl_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As its daemon and the consoles take a refusal: a configuration to fix, no outage (exit 2).
    error = TopicAuthorizationFailedError("dhag-demo.anomaly-alerts")
    run = Demo(tmp_path, monkeypatch, {("KafkaConsumer", "poll"): error})
    code, out = run.run()
    assert code == 2, out
    (line,) = [line for line in out.splitlines() if line.startswith("demo: Kafka at kafka-1:9093 refused")]
    assert "TopicAuthorizationFailedError" in line and "needs Read and Describe" in line, line
    assert out.splitlines()[-1].startswith("summary: ") and run.left_behind() == []


def test_with_kafka_gone_at_the_stop_its_own_clients_give_up_within_10_s_leaving_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kafka-python's producer close flushes first, and raises when the records are still unsent. Before:
    # the simulated plant waited 30 s for its last records, then a thread's traceback; the operator's
    # producer's close raised out of the stop: a traceback, its daemon never stopped, its label folder
    # left in /tmp.
    waits: list[float] = []

    def undelivered(_client: Any, timeout: float | None = None) -> None:
        waits.append(math.inf if timeout is None else timeout)
        raise KafkaTimeoutError("Timeout waiting for future")

    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    faults: Faults = {("KafkaProducer", "flush"): undelivered, ("KafkaProducer", "close"): undelivered}
    run = Demo(tmp_path, monkeypatch, faults)
    code, out = run.run()
    assert code == 3, out
    (line,) = [line for line in out.splitlines() if line.startswith("demo: Kafka at kafka-1:9093 failed")]
    assert "streaming the plant to dhag-demo.sensor-readings" in line
    assert "not all delivered within 5 s of the stop" in line
    assert sum(waits) <= 10, waits
    assert out.splitlines()[-1].startswith("summary: ") and hooked == []
    assert run.left_behind() == [] and all(child.signals for child in run.children)


class _Slow(Proc):
    """A child that takes its time to stop: the operator presses Ctrl-C again while the demo waits."""

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)
        if signum == signal.SIGKILL:
            self.returncode = -signal.SIGKILL

    def wait(self, _timeout: float | None = None) -> int:
        if self.returncode is None:
            raise KeyboardInterrupt
        return self.returncode


def test_a_second_ctrl_c_while_it_stops_kills_its_children_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a KeyboardInterrupt traceback out of its stop, its daemon never stopped (killed only as
    # its parent exited), its label folder left in /tmp.
    pressed: list[int] = []

    def ctrl_c_once(_client: Any, **_: Any) -> None:  # the first Ctrl-C, while it runs
        if not pressed:
            pressed.append(1)
            raise KeyboardInterrupt

    run = Demo(tmp_path, monkeypatch, {("KafkaConsumer", "poll"): ctrl_c_once})
    run.opts.duration = None
    children = [_Slow(), _Slow()]
    monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: children[0])
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (children[1], 1))
    code, out = run.run()
    assert code == 1, out  # a forced stop, as the services' second signal
    assert "\nstopping\n" in out and "interrupted again: killing the daemon and the retrainer\n" in out
    assert out.splitlines()[-1].startswith("summary: ")
    assert [signal.SIGKILL in child.signals for child in children] == [True, True]
    assert run.left_behind() == []


def test_a_demo_whose_plant_kafka_does_not_take_says_so_on_its_screen_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cluster gone mid-run: kafka-python queues each send and fails its record later. Before, the
    # screen showed '0 records/s scored' and nothing else until the stop, which exited 0.
    expired = KafkaTimeoutError("Expiring 1 record(s) for dhag-demo.sensor-readings-0: 31005 ms has passed")
    monkeypatch.setattr(demo_deliveries, "RECOVERED_S", 0.0)
    sent: list[int] = []

    def send(_client: Any, *_: Any, **__: Any) -> Future:
        sent.append(1)
        return Future().failure(expired) if len(sent) > 10 else Future().success(None)

    run = Demo(tmp_path, monkeypatch, {("KafkaProducer", "send"): send})
    run.opts.every = 0.5
    code, out = run.run()
    assert code == 3, out
    said = [line for line in out.splitlines() if line.startswith("    plant: ")]
    assert said and said[-1].startswith("    plant: Kafka is not taking its records ("), out
    assert f"KafkaTimeoutError: {expired.args[0]}" in said[-1]
    (line,) = [line for line in out.splitlines() if line.startswith("demo: Kafka at kafka-1:9093 failed")]
    assert "while streaming the plant to dhag-demo.sensor-readings (" in line, line
    assert " records not delivered): KafkaTimeoutError: Expiring 1 record(s)" in line, line
    summary = json.loads(out.splitlines()[-1].removeprefix("summary: "))
    assert summary["records_not_delivered"] == len(sent) - 10 > 0
    assert run.left_behind() == [] and all(child.signals for child in run.children)
