"""``dhag-pipeline demo`` (what ``make run`` starts): the whole product on one machine in one command.

1. A model: the registry's current one when it was trained for this simulated plant, otherwise one is
   trained from a simulated day of normal operation (with a progress bar) and published. The registry is
   ``--registry DIR``, else ``model.registry``; one whose current model the demo did not train (a real
   plant's) is refused before anything starts, and left as it is (:mod:`pipeline.demoregistry`).
2. The embedded broker (or the configured cluster, where its topics and groups are its own, the
   configured names prefixed ``dhag-demo.``: :mod:`pipeline.demotopics`), with the topics it uses.
3. The scoring daemon as a child process (``python -m pipeline run``, its own process group so a
   terminal's Ctrl-C reaches only this process, which then stops the daemon in order).
4. The simulated plant streaming readings (and ground truth to ``sensor-truth``) from a thread.
5. A simulated operator (:mod:`pipeline.operator`) who answers each alert from the ground truth after a
   delay, sometimes wrongly, and the retrainer (``python -m pipeline retrain --watch``, a child process
   with a label store of its own for this run) that turns the labels into new, gated model versions,
   which the daemon hot-swaps.
6. Every few seconds a summary: records/s and lag (scraped from the daemon's own metrics endpoint),
   the model version in use, labels given and retraining runs, open alerts with asset, score and top
   sensors, and precision / recall against the ground truth, with the precision of each model version.

Stops on Ctrl-C, after ``--duration`` seconds, (exit 2) once a model it did not train is made current in
its registry, (exit 3) once its embedded broker exits or once Kafka fails one of its own clients
(exit 2 when it refuses them: :mod:`pipeline.demokafka`), then stops the simulator, the retrainer, the
daemon and the broker (:mod:`pipeline.demostop`; a second Ctrl-C meanwhile kills them, exit 1).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaProducer

from pipeline.broker import EmbeddedBroker
from pipeline.brokerlink import client_options
from pipeline.config import Settings
from pipeline.demochildren import daemon_probe, metrics_port, retrainer_probe, start_daemon, start_retrainer
from pipeline.democonsole import DemoConsole
from pipeline.demokafka import DemoKafkaError, step
from pipeline.demoregistry import DemoRegistryError, RegistryWatch, demo_registry, refusal
from pipeline.demoscreen import EXIT_READER_GONE, Screen
from pipeline.demostop import STREAM_FLUSH_S, DemoParts
from pipeline.demotopics import demo_kafka
from pipeline.errors import EXIT_BROKER, ModelUnavailableError
from pipeline.kafkaclients import closed_on_failure
from pipeline.operator import SimulatedOperator
from pipeline.scrape import reachable_host
from pipeline.signals import EXIT_FORCED
from pipeline.simulator.command import add_stops
from pipeline.simulator.fleet import DEFAULT_TYPES, Fleet
from pipeline.simulator.stream import StreamStats, stream_fleet
from pipeline.topics import LABELS_TOPIC_CONFIGS, ensure_topics

__all__ = ["DemoOptions", "run_demo"]

log = logging.getLogger(__name__)


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
        time_budget: float = 60.0,
        config: str | None = None,
        json_out: Path | None = None,
        operator_delay: float = 20.0,
        operator_errors: float = 0.05,
        retrain: bool = True,
        retrain_labels: int = 10,
        registry: str | None = None,
        training_flags: tuple[str, ...] = (),
        stops: tuple[str, ...] = (),
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
        self.operator_delay = operator_delay
        self.operator_errors = operator_errors
        self.retrain = retrain
        self.retrain_labels = retrain_labels
        self.registry = registry  # the demo's own registry folder; None: model.registry
        # The training options given on the command line (--max-epochs, ...): a model reused ignores them.
        self.training_flags = training_flags
        self.stops = stops  # --stop ASSET:AT:DURATION, as given

    def problems(self) -> list[str]:
        """One line per option out of its range, named as on the command line (empty when all are fine)."""
        out = []
        at_least_1 = {"--assets": self.assets, "--max-epochs": self.max_epochs}
        at_least_1["--retrain-labels"] = self.retrain_labels
        out += [f"{k} must be at least 1, got {v:g}" for k, v in at_least_1.items() if v < 1]
        positive = {"--rate": self.rate, "--speedup": self.speedup, "--every": self.every}
        positive |= {"--history-hours": self.history_hours, "--time-budget": self.time_budget}
        if self.duration is not None:
            positive["--duration"] = self.duration
        out += [f"{k} must be above 0, got {v:g}" for k, v in positive.items() if not v > 0]
        # Infinite, these stream a frozen plant flat out, NaN readings, a history of NaN rows.
        finite = {"--rate": self.rate, "--speedup": self.speedup, "--history-hours": self.history_hours}
        out += [f"{k} must be a finite number above 0, got {v:g}" for k, v in finite.items() if v == math.inf]
        not_negative = {"--fault-rate": self.fault_rate, "--operator-delay": self.operator_delay}
        out += [f"{k} must be 0 or more, got {v:g}" for k, v in not_negative.items() if not v >= 0]
        if self.fault_rate == math.inf:  # a fault schedule drawn without end
            out.append(f"--fault-rate must be a finite number, 0 or more, got {self.fault_rate:g}")
        if self.seed < 0:  # numpy's refusal does not name it
            out.append(f"--seed must be 0 or more, got {self.seed}")
        if self.registry is not None and not self.registry.strip():
            out.append("--registry is empty: give the folder of the demo's models")
        if self.json_out is not None and self.json_out.is_dir():  # refused before the run, not after it
            out.append(f"--json {self.json_out} is a folder: name the file to write the summary to")
        elif self.json_out is not None and not self.json_out.parent.is_dir():
            out.append(f"--json {self.json_out}: no folder {self.json_out.parent}")
        if not 0 <= self.operator_errors <= 1:
            out.append(f"--operator-errors must be within 0-1, got {self.operator_errors:g}")
        if self.stops and not out:  # the fleet's asset ids, of a fleet of a size and seed in range
            fleet = Fleet(self.assets, seed=self.seed)
            out += add_stops(fleet, self.stops)
        return out

    def fleet(self) -> dict[str, Any]:
        """What identifies the simulated plant a model must have been trained on."""
        return {"simulator": 1, "seed": self.seed, "assets": self.assets, "types": list(DEFAULT_TYPES)}


def ensure_model(settings: Settings, opts: DemoOptions, out: TextIO, *, advice: str | None = None) -> str:
    """The current model's version, after training and publishing one if the registry has none for us.

    Raises :class:`~pipeline.demoregistry.DemoRegistryError` (its one line ending with ``advice``, by
    default the ``demo`` command's), changing nothing, when the registry's current model is not one
    the demo trained."""
    registry, named = demo_registry(settings, opts.registry)
    if (refused := refusal(registry, named, advice)) is not None:
        raise DemoRegistryError(refused)

    import torch

    from dhag.progresslines import ProgressLines
    from pipeline.plantmodel import history_reference, plant_model_matches, train_plant_model
    from pipeline.registry import load_current, publish

    torch.set_num_threads(max(1, settings.model.torch_threads))
    try:
        version, model = load_current(registry)
        if plant_model_matches(model, opts.fleet()):
            out.write(f"model: reusing {version} from {registry}\n")
            # Given to train a model, which this run does not; its retrainer's runs take the other two.
            unused = [f for f in opts.training_flags if f == "--history-hours" or not opts.retrain]
            if unused:
                out.write(
                    f"  {' and '.join(unused)} not applied: they train the first model, and {registry} "
                    "has one for this plant; --registry NEW_FOLDER trains one with them\n"
                )
            return version
        out.write(f"model: {version} in {registry} was not trained for this plant; training a new one\n")
    except ModelUnavailableError:
        out.write(f"model: none in {registry}; training one from simulated normal operation\n")
    started = time.perf_counter()
    history = Fleet(opts.assets, seed=opts.seed, run=0).run(opts.history_hours * 3600, 30.0)
    out.write(f"  simulated {opts.history_hours:g} h of normal operation: {len(history)} rows\n")
    out.flush()
    # The bar where stderr is a terminal; a log file or a pipe would keep each of its redraws, and
    # gets a plain line when training begins, then one a minute, as `dhag train` writes there.
    terminal = sys.stderr is not None and sys.stderr.isatty()
    model = train_plant_model(
        history,
        seed=opts.seed,
        progress=terminal,
        on_epoch=None if terminal else ProgressLines(opts.max_epochs, name="demo: training"),
        fleet=opts.fleet(),
        max_epochs=opts.max_epochs,
        time_budget=opts.time_budget,
    )
    if (refused := refusal(registry, named, advice)) is not None:  # a real model published meanwhile
        raise DemoRegistryError(refused)
    reference = history_reference(history, settings.retrain.reference_sample_size)
    # Trained from the simulated history alone: the version current then is not its parent.
    version = publish(registry, model, derived=False, reference=reference)
    out.write(f"  trained and published {version} in {time.perf_counter() - started:.0f} s\n")
    return version


def run_demo(settings: Settings, opts: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the exit code (0 after a clean stop; 141 when the reader of ``out`` went
    away, ``make run | head`` once head has its lines: it stops then as Ctrl-C stops it, quietly)."""
    out = screen = Screen(out)  # type: ignore[assignment]
    kafka = demo_kafka(settings)  # on a real cluster: topics and groups of its own, not the plant's
    version: str | None = None
    broker = EmbeddedBroker() if settings.kafka.embedded else None
    parts = DemoParts(Path(tempfile.mkdtemp(prefix="dhag-demo-labels-")), broker)
    stop = threading.Event()
    stats = StreamStats()
    streamed: list[DemoKafkaError] = []  # what Kafka failed the simulated plant's stream with
    bootstrap = settings.kafka.bootstrap_servers
    code = 0
    try:
        version = ensure_model(settings, opts, out)  # Ctrl-C while it trains stops as at any later time
        settings = kafka.settings
        bootstrap = broker.start().bootstrap_servers if broker else settings.kafka.bootstrap_servers
        topics = settings.kafka.topics
        names = [topics.input, topics.alerts, topics.dlq_topic, kafka.truth_topic, topics.labels]
        names.append(topics.labels_dlq)
        ensure_topics(
            bootstrap,
            dict.fromkeys(names, topics.partitions),
            create_missing=True,
            replication_factor=1 if broker is not None else -1,  # as the services create them
            client_options=settings.kafka.security.client_options(),
            configs={topics.labels: LABELS_TOPIC_CONFIGS},
        )
        port, said = metrics_port(settings.metrics.host, settings.metrics.port)
        metrics_at = reachable_host(settings.metrics.host)  # its children serve there alone
        out.write(f"{said}\n" if said else "")
        daemon = parts.daemon = start_daemon(settings, opts, bootstrap, port, extra=kafka.overrides)
        out.write("".join(f"{line}\n" for line in kafka.lines))
        if broker is not None:
            out.write(
                "broker: embedded, in memory, no retention: its memory grows for as long as the demo "
                "runs (hours are fine; for days, set kafka.bootstrap_servers to a real broker)\n"
            )
        out.write(
            f"broker {bootstrap} | daemon pid {daemon.pid} scoring with model {version} | metrics on "
            f"http://{metrics_at}:{port}/metrics\n  probe it: {daemon_probe(settings, opts, port)}\n"
        )
        retrainer_port = None
        if opts.retrain:
            # A label store of this run's own: alert ids repeat on a fresh embedded broker.
            retrainer, retrainer_port = parts.retrainer, _ = start_retrainer(
                settings, opts, bootstrap, parts.store_dir / "labels.sqlite", kafka.overrides
            )
            out.write(
                f"retrainer pid {retrainer.pid}: a new model after every {opts.retrain_labels} labels "
                f"(if the gate accepts it) | metrics on http://{metrics_at}:{retrainer_port}/metrics\n"
                f"  probe it: {retrainer_probe(settings, opts, retrainer_port)}\n"
            )
        # Its clients reach the cluster as its daemon's do: its security settings, client id, timeouts.
        options = client_options(settings.kafka, bootstrap)
        with step("making the simulated operator's producer", "write to"):
            producer = parts.producer = closed_on_failure(KafkaProducer, linger_ms=20, **options)
        operator = SimulatedOperator.to_kafka(
            producer,
            topics.labels,
            delay_s=opts.operator_delay,
            error_rate=opts.operator_errors,
            seed=opts.seed,
        )
        out.write(
            f"operator: answers each alert from the ground truth after {opts.operator_delay:g} s, "
            f"{opts.operator_errors:.0%} of answers wrong\n"
        )
        fleet = Fleet(opts.assets, seed=opts.seed, run=1, start_s=8 * 3600.0)
        add_stops(fleet, opts.stops)  # checked by DemoOptions.problems
        simulator = parts.simulator = threading.Thread(
            target=_stream,
            args=(streamed, fleet, bootstrap),
            kwargs={
                "topic": topics.input,
                "truth_topic": kafka.truth_topic,
                "rate": opts.rate,
                "speedup": opts.speedup,
                "stop": stop,
                "stats": stats,
                "fault_rate": opts.fault_rate,
                "producer_options": options,
                "flush_s": STREAM_FLUSH_S,
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
        watching = {"operator": operator, "retrainer_port": retrainer_port, "truth_topic": kafka.truth_topic}
        console = parts.console = DemoConsole(bootstrap, settings, port, out, **watching)
        started = time.monotonic()
        next_print = started + opts.every
        watch = RegistryWatch(*demo_registry(settings, opts.registry))
        while opts.duration is None or time.monotonic() - started < opts.duration:
            if screen.gone:  # no one reads it any more: stop as Ctrl-C does
                break
            if (taken := watch.taken()) is not None:
                out.write(f"{taken}\n")
                code = 2
                break
            if broker is not None and broker.returncode is not None:  # its children would wait minutes
                out.write(f"the embedded broker exited with code {broker.returncode}: stopping\n")
                code = EXIT_BROKER
                break
            if daemon.poll() is not None:
                out.write(f"the daemon exited with code {daemon.returncode}\n")
                code = daemon.returncode or 1
                break
            if not simulator.is_alive():
                if streamed:
                    raise streamed[0]
                out.write("the simulator stopped\n")
                code = 1
                break
            if opts.retrain and retrainer.poll() is not None:
                out.write(f"the retrainer exited with code {retrainer.returncode}\n")
                code = retrainer.returncode or 1
                break
            console.poll()
            if time.monotonic() >= next_print:
                console.print_summary(time.monotonic() - started, stats)
                next_print += opts.every
    except KeyboardInterrupt:
        out.write("\nstopping\n")
    except DemoKafkaError as exc:
        code, line = exc.said(bootstrap)
        out.write(f"{line}\n")
    finally:
        stop.set()
        broker_pid = broker.pid if broker is not None else None
        try:
            parts.stop_in_order(settings.shutdown_grace_s)
            if streamed and code == 0:  # its last records not delivered: said as a failure while running
                code, line = streamed[0].said(bootstrap)
                out.write(f"{line}\n")
        except KeyboardInterrupt:  # Ctrl-C again while it stops
            out.write("\ninterrupted again: killing the daemon and the retrainer\n")
            parts.stop_at_once()
            code = EXIT_FORCED
    daemon, retrainer, console = parts.daemon, parts.retrainer, parts.console
    daemon_code, retrainer_code = parts.daemon_code, parts.retrainer_code
    code = code or daemon_code or retrainer_code or (EXIT_READER_GONE if screen.gone else 0)
    children = (daemon.pid if daemon else None, retrainer.pid if retrainer else None, broker_pid)
    result = (console.summary(stats) if console is not None else {}) | {
        "model_at_start": version,
        "daemon_exit_code": daemon_code,
        "retrainer_exit_code": retrainer_code,
        "child_pids": [p for p in children if p is not None],
    }
    out.write("summary: " + json.dumps(result) + "\n")
    if opts.json_out is not None:
        opts.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return code


def _stream(failed: list[DemoKafkaError], fleet: Fleet, bootstrap: str, **options: Any) -> None:
    """The simulated plant's thread: :func:`stream_fleet`; what Kafka failed it with goes to ``failed``,
    records it did not take as well (the first error that failed one)."""
    doing = f"streaming the plant to {options['topic']}"
    try:
        with step(doing, "write to"):
            sent = stream_fleet(fleet, bootstrap, **options).deliveries
        if sent.undelivered:  # said on its screen while it ran
            doing += f" ({sent.undelivered} of its {sent.sent} records not delivered)"
            raise DemoKafkaError(doing, "write to", sent.first_error)
    except DemoKafkaError as exc:
        failed.append(exc)
