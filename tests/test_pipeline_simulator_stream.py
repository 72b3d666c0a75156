"""The simulated plant streamed: the ground-truth stream, faults drawn while it runs, its options, a stop
that delivers what it counted, and the topics it creates (the plant itself: test_pipeline_simulator.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kafka.future import Future
from pipeline_kafka import partition_counts, read_topic

from pipeline.simulator import Fleet
from pipeline.simulator.faults import Fault
from pipeline.simulator.stream import StreamStats

INTERVAL = 5.0


def test_streaming_needs_a_broker_address(capsys) -> None:
    from pipeline.cli import main

    assert main(["simulate", "--duration", "1"]) == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_the_truth_stream_says_when_a_fault_is_over_and_when_its_after_effect_is(monkeypatch) -> None:
    import orjson

    from pipeline.simulator import stream

    sent: list[tuple[str, bytes]] = []
    # 4,500 simulated seconds (1,500 readings), however slow the machine: a stream stopped by the wall
    # clock streamed less on a busy one.
    enough, readings = threading.Event(), [0]

    class Recorder:
        def __init__(self, **_: object) -> None: ...

        def send(self, topic: str, key: bytes, value: bytes) -> Future:
            sent.append((topic, value))
            readings[0] += topic == "sensor-readings"
            if readings[0] >= 1500:
                enough.set()
            return Future().success(None)

        def flush(self, timeout: float) -> None: ...

        def close(self, timeout: float) -> None: ...

    monkeypatch.setattr(stream, "KafkaProducer", Recorder)
    fleet = Fleet(1, types=("pump",), seed=5, run=1)
    fleet.faults = [
        Fault(0, "pump-01", "bearing_wear", 60.0, 600.0, 1.0),
        Fault(0, "pump-01", "sensor_spikes", 3600.0, 300.0, 1.0, "flow_m3h"),
    ]
    # One record per simulated 3 s, about 1.5 s at this rate.
    stream.stream_fleet(fleet, "unused:9092", rate=3000.0, speedup=9000.0, duration_s=120, stop=enough)
    truth = [orjson.loads(v) for topic, v in sent if topic == "sensor-truth"]
    states = [(e["kind"], e["state"], e.get("recovering")) for e in truth]
    assert states == [
        ("bearing_wear", "start", None),
        ("bearing_wear", "end", True),
        ("bearing_wear", "recovered", None),
        ("sensor_spikes", "start", None),
        ("sensor_spikes", "end", False),
    ]
    end, recovered = (e["sim_t"] for e in truth[1:3])
    assert 20 * 60 < recovered - end < 40 * 60


def test_a_stream_with_a_fault_rate_draws_faults_for_as_long_as_it_runs(monkeypatch) -> None:
    # The demo and `simulate` drew a week of faults up front: left running longer, the plant never
    # failed again, and every step looked through every fault of the week.
    import orjson

    from pipeline.simulator import stream

    starts: list[float] = []

    class Recorder:
        def __init__(self, **_: object) -> None: ...

        def send(self, topic: str, key: bytes, value: bytes) -> Future:
            event = orjson.loads(value)
            if topic == "sensor-truth" and event["state"] == "start":
                starts.append(event["sim_t"])
            return Future().success(None)

        def flush(self, timeout: float) -> None: ...

        def close(self, timeout: float) -> None: ...

    monkeypatch.setattr(stream, "KafkaProducer", Recorder)
    monkeypatch.setattr(stream, "_DRAW_S", 6 * 3600.0)  # a quarter of a day at a time
    fleet = Fleet(2, types=("pump",), seed=5, run=1)
    stats = stream.stream_fleet(
        fleet, "unused:9092", rate=2000.0, speedup=2 * 86_400.0, duration_s=1.5, fault_rate=1.0
    )
    days = stats.sim_seconds / 86_400.0
    assert days > 1.0, "the machine was too slow to stream a simulated day"
    assert max(starts) > 0.75 * stats.sim_seconds  # faults still start late in the run
    assert len(starts) > 0.5 * 2 * 24 * days  # about one per asset-hour, less the gaps
    assert all(f.end > fleet.t - 86_400.0 for f in fleet.faults)  # those long over were dropped


def _has_records(bootstrap: str, topic: str) -> bool:
    try:
        return bool(read_topic(bootstrap, topic, count=1, timeout_s=1))
    except ValueError:  # the topic is not there yet
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_stream_delivers_what_it_counted_says_so_and_exits_0(tansu, signum: int) -> None:
    # SIGTERM (a container stopped) ended it at once: no summary, exit 143, the producer's buffer lost;
    # Ctrl-C exited 0 without the summary.
    topic = f"sim-stop-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "pipeline", "simulate", "--bootstrap", tansu.bootstrap_servers]
    argv += ["--topic", topic, "--truth-topic", f"{topic}-truth", "--rate", "240", "--assets", "6"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not _has_records(tansu.bootstrap_servers, topic):
            assert proc.poll() is None and time.monotonic() < deadline
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    # It said "finishing the batch", the daemon's words: a stream has no batch.
    assert f"{signal.Signals(signum).name} received: delivering the records sent and stopping" in err
    said = re.fullmatch(r"streamed (\d+) records and (\d+) truth events\n", out)
    assert said, out
    streamed = int(said[1])
    # Every record it counted is on the topic (read, not end offsets, which Tansu under-reports).
    assert streamed > 0
    assert len(read_topic(tansu.bootstrap_servers, topic, count=streamed, idle_s=1.0)) == streamed


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--rate", "0"], "--rate must be above 0, got 0"),  # was a ZeroDivisionError traceback
        (["--speedup", "0"], "--speedup must be above 0, got 0"),  # streamed one frozen instant
        (["--fault-rate", "-1"], "--fault-rate must be 0 or more, got -1"),
        (["--duration", "-1"], "--duration must be above 0, got -1"),
        # A frozen plant sent as fast as it goes; NaN readings; a fault schedule drawn without end.
        (["--rate", "inf"], "--rate must be a finite number above 0, got inf"),
        (["--speedup", "inf"], "--speedup must be a finite number above 0, got inf"),
        (["--fault-rate", "inf"], "--fault-rate must be a finite number, 0 or more, got inf"),
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),
    ],
)
def test_a_stream_option_out_of_range_is_a_usage_error_before_connecting(
    argv: list[str], said: str, capsys, monkeypatch
) -> None:
    from pipeline.cli import main

    monkeypatch.setattr("pipeline.simulator.command.stream_fleet", lambda *a, **k: pytest.fail("it streamed"))
    assert main(["simulate", "--bootstrap", "127.0.0.1:1", *argv]) == 2
    assert said in capsys.readouterr().err


def test_a_stream_started_before_the_daemon_creates_its_topics_with_the_configured_partitions(tansu) -> None:
    # The broker auto-created them on the first record, with its own default (4 on Tansu): a daemon
    # started later found its input topic there and never used kafka.topics.partitions.
    topic = f"sim-parts-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "pipeline", "simulate", "--bootstrap", tansu.bootstrap_servers]
    argv += ["--topic", topic, "--truth-topic", f"{topic}-truth", "--assets", "2", "--duration", "0.5"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env["DHAG_PIPELINE_KAFKA__TOPICS__PARTITIONS"] = "3"
    ran = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert partition_counts(tansu.bootstrap_servers, [topic, f"{topic}-truth"]) == {
        topic: 3,
        f"{topic}-truth": 3,
    }


def test_the_streams_producer_reaches_the_cluster_as_the_daemons_clients_do(capsys, monkeypatch) -> None:
    # Before, its topics were created with kafka.security, and its producer made with the address alone:
    # on a cluster asking for a SASL login or TLS, it failed or waited.
    from pipeline.brokerlink import client_options
    from pipeline.cli import main
    from pipeline.config import load_settings

    secured = {
        "DHAG_PIPELINE_KAFKA__SECURITY__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_MECHANISM": "PLAIN",
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_USERNAME": "sim",
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": "s3cret",
    }
    for key, value in secured.items():
        monkeypatch.setenv(key, value)
    streamed: list[dict] = []
    monkeypatch.setattr("pipeline.topics.provision_topics", lambda *a, **k: None)
    monkeypatch.setattr("pipeline.simulator.command.install_signals", lambda *a, **k: None)
    monkeypatch.setattr(
        "pipeline.simulator.command.stream_fleet", lambda *a, **k: streamed.append(k) or StreamStats()
    )
    assert main(["simulate", "--bootstrap", "kafka-1:9093", "--duration", "1"]) == 0, capsys.readouterr().err
    wanted = client_options(load_settings(None, secured).kafka, "kafka-1:9093")
    assert wanted["sasl_plain_password"] == "s3cret"
    assert streamed and streamed[0].get("producer_options") == wanted
