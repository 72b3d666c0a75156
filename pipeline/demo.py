"""``dhag-pipeline demo`` (what ``make run`` starts): the whole product on one machine in one command.

1. A model: the registry's current one when it was trained for this simulated plant, otherwise one is
   trained from a simulated day of normal operation (with a progress bar) and published.
2. The embedded broker (or the configured cluster), with the input, alert, DLQ and truth topics.
3. The scoring daemon as a child process (``python -m pipeline run``, its own process group so a
   terminal's Ctrl-C reaches only this process, which then stops the daemon in order).
4. The simulated plant streaming readings (and ground truth to ``sensor-truth``) from a thread.
5. Every few seconds a summary: records/s and lag (scraped from the daemon's own metrics endpoint),
   open alerts with asset, score and top sensors, and precision / recall against the ground truth.

Stops on Ctrl-C or after ``--duration`` seconds, then stops the simulator, the daemon and the broker.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, TextIO

import orjson
from kafka import KafkaConsumer, TopicPartition

from pipeline.broker import EmbeddedBroker, die_with_parent, ensure_topics, free_port
from pipeline.config import ENV_PREFIX, Settings
from pipeline.errors import ModelUnavailableError
from pipeline.scoreboard import Scoreboard
from pipeline.simulator.fleet import DEFAULT_TYPES, Fleet
from pipeline.simulator.stream import StreamStats, stream_fleet

__all__ = ["DemoOptions", "run_demo"]

log = logging.getLogger(__name__)

TRUTH_TOPIC = "sensor-truth"


class DemoOptions:
    """The demo's knobs (the ``demo`` subcommand's arguments)."""

    def __init__(
        self,
        *,
        duration: float | None = None,
        assets: int = 24,
        seed: int = 0,
        rate: float = 48.0,
        speedup: float = 10.0,
        fault_rate: float = 0.5,
        every: float = 5.0,
        history_hours: float = 24.0,
        max_epochs: int = 30,
        time_budget: float = 30.0,
        config: str | None = None,
        json_out: Path | None = None,
    ) -> None:
        self.duration = duration
        self.assets = assets
        self.seed = seed
        self.rate = rate
        self.speedup = speedup
        self.fault_rate = fault_rate
        self.every = every
        self.history_hours = history_hours
        self.max_epochs = max_epochs
        self.time_budget = time_budget
        self.config = config
        self.json_out = json_out

    def fleet(self) -> dict[str, Any]:
        """What identifies the simulated plant a model must have been trained on."""
        return {"simulator": 1, "seed": self.seed, "assets": self.assets, "types": list(DEFAULT_TYPES)}


def ensure_model(settings: Settings, opts: DemoOptions, out: TextIO) -> str:
    """The current model's version, after training and publishing one if the registry has none for us."""
    import torch

    from pipeline.plantmodel import plant_model_matches, train_plant_model
    from pipeline.registry import load_current, publish

    torch.set_num_threads(max(1, settings.model.torch_threads))
    registry = settings.model.registry
    try:
        version, model = load_current(registry)
        if plant_model_matches(model, opts.fleet()):
            out.write(f"model: reusing {version} from {registry}\n")
            return version
        out.write(f"model: {version} in {registry} was not trained for this plant; training a new one\n")
    except ModelUnavailableError:
        out.write(f"model: none in {registry}; training one from simulated normal operation\n")
    started = time.perf_counter()
    history = Fleet(opts.assets, seed=opts.seed, run=0).run(opts.history_hours * 3600, 30.0)
    out.write(f"  simulated {opts.history_hours:g} h of normal operation: {len(history)} rows\n")
    out.flush()
    model = train_plant_model(
        history,
        seed=opts.seed,
        progress=True,
        fleet=opts.fleet(),
        max_epochs=opts.max_epochs,
        time_budget=opts.time_budget,
    )
    version = publish(registry, model)
    out.write(f"  trained and published {version} in {time.perf_counter() - started:.0f} s\n")
    return version


def _metrics_port(host: str, port: int) -> tuple[int, bool]:
    """The configured port when it is free, else a free one; (port, was it the configured one)."""
    if port == 0:
        return free_port(), False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return port, True
        except OSError:
            return free_port(), False


def _start_daemon(settings: Settings, opts: DemoOptions, bootstrap: str, port: int) -> subprocess.Popen:
    overrides = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "METRICS__PORT": str(port),
        "MODEL__REGISTRY": str(Path(settings.model.registry).resolve()),
        # A single consumer joins its group in about the rebalance timeout: keep that short here.
        "KAFKA__MAX_POLL_INTERVAL_MS": "5000",
        "KAFKA__SESSION_TIMEOUT_MS": "6000",
        "KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "LOGGING__LEVEL": "WARNING",
    }
    env = dict(os.environ) | {ENV_PREFIX + k: v for k, v in overrides.items()}
    cmd = [sys.executable, "-m", "pipeline", "run"] + (["--config", opts.config] if opts.config else [])
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


def _stop_daemon(proc: subprocess.Popen, grace_s: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return int(proc.returncode)


def _scrape(port: int) -> dict[str, float]:
    """Records processed and consumer lag from the daemon's metrics endpoint (empty when unreachable)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    totals = {"processed": 0.0, "lag": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "dhag_records_processed_total":
                totals["processed"] += sample.value
            elif sample.name == "dhag_consumer_lag":
                totals["lag"] += sample.value
    return totals


class _Console:
    """Reads alerts and truth, scrapes metrics, prints the periodic summary."""

    def __init__(self, bootstrap: str, settings: Settings, port: int, out: TextIO) -> None:
        self.out = out
        self.port = port
        self.alerts_topic = settings.kafka.topics.alerts
        self.board = Scoreboard()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        parts = [
            TopicPartition(topic, p)
            for topic in (self.alerts_topic, TRUTH_TOPIC)
            for p in (self.consumer.partitions_for_topic(topic) or ())
        ]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning()
        self.last: tuple[float, float] | None = None
        self.rate = 0.0
        self.lag = 0.0

    def poll(self) -> None:
        for messages in self.consumer.poll(timeout_ms=200, max_records=10_000).values():
            for msg in messages:
                event = orjson.loads(msg.value)
                if msg.topic == TRUTH_TOPIC:
                    self.board.add_truth(event)
                else:
                    self.board.add_alert(event)
        scraped = _scrape(self.port)
        if scraped:
            now = time.monotonic()
            if self.last is not None and now > self.last[0]:
                self.rate = (scraped["processed"] - self.last[1]) / (now - self.last[0])
            self.last = (now, scraped["processed"])
            self.lag = scraped["lag"]

    def print_summary(self, elapsed: float, stats: StreamStats) -> None:
        board, now = self.board, time.time()
        precision, recall = board.precision(), board.recall(now=now)
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        self.out.write(
            f"[{elapsed:5.0f} s] {self.rate:6.0f} records/s scored, lag {self.lag:.0f} | plant "
            f"{stats.sim_seconds / 60:.0f} sim-min, faults {len(board.faults)} "
            f"({len(board.active_faults(now))} active) | alerts {len(board.alerts)} "
            f"({len(board.open_alerts())} open) | precision {fmt(precision)} recall {fmt(recall)}\n"
        )
        for alert in board.open_alerts()[:8]:
            cause = board.cause(alert) or "no fault: false alert"
            self.out.write(
                f"    OPEN {alert.asset_id:<14} score {alert.score:.3f}  top {', '.join(alert.top_sensors)}"
                f"  [truth: {cause}]\n"
            )
        self.out.flush()

    def summary(self, stats: StreamStats) -> dict[str, Any]:
        board, now = self.board, time.time()
        return {
            "records_produced": stats.records,
            "sim_minutes": round(stats.sim_seconds / 60, 1),
            "faults_started": len(board.faults),
            "faults_detected": len(board.detected()),
            "alerts_opened": len(board.alerts),
            "true_positive_alerts": board.true_positives(),
            "precision": board.precision(),
            "recall": board.recall(now=now),
            "detected_kinds": sorted({f.kind for f in board.detected()}),
        }


def run_demo(settings: Settings, opts: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the exit code (0 after a clean stop)."""
    version = ensure_model(settings, opts, out)
    broker = EmbeddedBroker() if settings.kafka.embedded else None
    daemon: subprocess.Popen | None = None
    stop = threading.Event()
    stats = StreamStats()
    simulator: threading.Thread | None = None
    console: _Console | None = None
    code = 0
    try:
        bootstrap = broker.start().bootstrap_servers if broker else settings.kafka.bootstrap_servers
        topics = settings.kafka.topics
        names = [topics.input, topics.alerts, topics.dlq_topic, TRUTH_TOPIC]
        ensure_topics(
            bootstrap, dict.fromkeys(names, topics.partitions), create_missing=True, replication_factor=1
        )
        port, configured = _metrics_port(settings.metrics.host, settings.metrics.port)
        if not configured:
            out.write(f"metrics: port {settings.metrics.port} is taken; using port {port} instead\n")
        daemon = _start_daemon(settings, opts, bootstrap, port)
        out.write(
            f"broker {bootstrap} | daemon pid {daemon.pid} scoring with model {version} | metrics on "
            f"http://127.0.0.1:{port}/metrics\n"
        )
        fleet = Fleet(opts.assets, seed=opts.seed, run=1, start_s=8 * 3600.0)
        horizon = (opts.duration or 7 * 86_400.0) * opts.speedup
        fleet.schedule(until=fleet.t + horizon, rate_per_hour=opts.fault_rate)
        simulator = threading.Thread(
            target=stream_fleet,
            args=(fleet, bootstrap),
            kwargs={
                "topic": topics.input,
                "truth_topic": TRUTH_TOPIC,
                "rate": opts.rate,
                "speedup": opts.speedup,
                "stop": stop,
                "stats": stats,
            },
            name="simulator",
            daemon=True,
        )
        simulator.start()
        out.write(
            f"plant: {opts.assets} assets, {opts.rate:g} records/s, {opts.speedup:g}x real time, about "
            f"{opts.fault_rate:g} faults per asset-hour; Ctrl-C to stop\n"
        )
        out.flush()
        console = _Console(bootstrap, settings, port, out)
        started = time.monotonic()
        next_print = started + opts.every
        while opts.duration is None or time.monotonic() - started < opts.duration:
            if daemon.poll() is not None:
                out.write(f"the daemon exited with code {daemon.returncode}\n")
                code = daemon.returncode or 1
                break
            if not simulator.is_alive():
                out.write("the simulator stopped\n")
                code = 1
                break
            console.poll()
            if time.monotonic() >= next_print:
                console.print_summary(time.monotonic() - started, stats)
                next_print += opts.every
    except KeyboardInterrupt:
        out.write("\nstopping\n")
    finally:
        stop.set()
        if simulator is not None:
            simulator.join(30)
        if console is not None:
            time.sleep(1.0)  # the alerts of the last records
            console.poll()
        daemon_code = _stop_daemon(daemon, settings.shutdown_grace_s) if daemon is not None else 0
        broker_pid = broker.pid if broker is not None else None
        if broker is not None:
            broker.stop()
        if console is not None:
            console.consumer.close()
    code = code or daemon_code
    result = (console.summary(stats) if console is not None else {}) | {
        "model_version": version,
        "daemon_exit_code": daemon_code,
        "child_pids": [p for p in (daemon.pid if daemon else None, broker_pid) if p is not None],
    }
    out.write("summary: " + json.dumps(result) + "\n")
    if opts.json_out is not None:
        opts.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return code
