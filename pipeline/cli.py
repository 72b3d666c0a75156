"""The ``dhag-pipeline`` command (also ``python -m pipeline``): run, check-config, models, bench, simulate,
demo.

Exit codes: 0 clean stop; 1 forced stop (second signal or grace period exceeded) or unexpected error;
2 bad configuration (or a refused ``models`` command); 3 Kafka unreachable for longer than
``kafka.unavailable_exit_s``; 4 no usable model.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from prometheus_client import CollectorRegistry

from pipeline.config import Settings, effective_config, load_settings
from pipeline.errors import BrokerUnavailableError, ConfigError, ModelUnavailableError
from pipeline.modelcmd import add_arguments as add_models_arguments
from pipeline.simulator.command import add_arguments as add_simulate_arguments

__all__ = ["EXIT_CONFIG", "EXIT_FORCED", "EXIT_MODEL", "main"]

log = logging.getLogger("pipeline")

EXIT_FORCED = 1
EXIT_CONFIG = 2
EXIT_BROKER = 3
EXIT_MODEL = 4
DEFAULT_CONFIG = "config.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dhag-pipeline", description="The DHAG streaming scoring service.")
    sub = parser.add_subparsers(dest="command", required=True)
    help_config = f"YAML settings (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)"
    run = sub.add_parser("run", help="score the input topic until SIGTERM/SIGINT")
    run.add_argument("--config", help=help_config)
    check = sub.add_parser("check-config", help="validate the settings and print the effective config")
    check.add_argument("--config", help=help_config)
    models = sub.add_parser("models", help="the model registry: list, show V, promote V, rollback")
    models.add_argument("--config", help=help_config)
    add_models_arguments(models)
    bench = sub.add_parser(
        "bench", help="throughput and latency on a fresh embedded broker; `bench plant`: detection quality"
    )
    bench.add_argument(
        "target", nargs="?", choices=("pipeline", "plant"), default="pipeline", help="what to measure"
    )
    bench.add_argument("--config", help=help_config)
    bench.add_argument("--records", type=int, default=200_000, help="records for the throughput runs")
    bench.add_argument("--rate", type=int, default=5000, help="offered load of the latency run (records/s)")
    bench.add_argument("--duration", type=float, default=60.0, help="seconds of the latency run")
    bench.add_argument("--json", type=Path, help="also write the results to this file")
    bench.add_argument("--seed", type=int, default=0, help="plant: the scenario's seed")
    bench.add_argument("--assets", type=int, default=24, help="plant: fleet size")
    bench.add_argument("--minutes", type=float, default=120.0, help="plant: simulated minutes per asset")
    simulate = sub.add_parser("simulate", help="the simulated plant: a history file, or a stream to Kafka")
    simulate.add_argument("--config", help=help_config)
    add_simulate_arguments(simulate)
    demo = sub.add_parser("demo", help="broker + model + daemon + simulated plant, with a live summary")
    demo.add_argument("--config", help=help_config)
    demo.add_argument("--duration", type=float, help="seconds to run (default: until Ctrl-C)")
    demo.add_argument("--assets", type=int, default=24, help="fleet size (default 24)")
    demo.add_argument("--seed", type=int, default=0, help="the simulated plant's seed")
    demo.add_argument("--rate", type=float, default=48.0, help="records per second (default 48)")
    demo.add_argument("--speedup", type=float, default=10.0, help="simulated seconds per second")
    demo.add_argument("--fault-rate", type=float, default=0.5, help="faults per asset per simulated hour")
    demo.add_argument("--every", type=float, default=5.0, help="seconds between summaries")
    demo.add_argument("--history-hours", type=float, default=24.0, help="training history, simulated hours")
    demo.add_argument("--max-epochs", type=int, default=30, help="training epochs at most")
    demo.add_argument("--time-budget", type=float, default=30.0, help="training seconds at most")
    demo.add_argument("--json", type=Path, help="also write the final summary to this file")
    return parser


def _settings(config: str | None) -> Settings:
    path = config if config is not None else (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    return load_settings(path, os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run a subcommand; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_CONFIG
    if args.command == "check-config":
        sys.stdout.write(effective_config(settings))
        return 0
    if args.command == "models":
        from pipeline.modelcmd import run_models

        return run_models(settings, args)
    from pipeline.logs import configure_logging

    configure_logging(settings.logging)
    if args.command == "simulate":
        from pipeline.simulator.command import run_simulate

        return run_simulate(settings, args)
    if args.command == "demo":
        return _demo(settings, args)
    if args.command == "bench" and args.target == "plant":
        from pipeline.plantbench import run_plant_bench

        return run_plant_bench(
            settings, seed=args.seed, assets=args.assets, minutes=args.minutes, out=args.json
        )
    if args.command == "bench":
        from pipeline.bench import run_bench

        return run_bench(
            settings, records=args.records, rate=args.rate, duration=args.duration, out=args.json
        )
    return run_service(settings)


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.demo import DemoOptions, run_demo

    opts = DemoOptions(
        duration=args.duration,
        assets=args.assets,
        seed=args.seed,
        rate=args.rate,
        speedup=args.speedup,
        fault_rate=args.fault_rate,
        every=args.every,
        history_hours=args.history_hours,
        max_epochs=args.max_epochs,
        time_budget=args.time_budget,
        config=args.config,
        json_out=args.json,
    )
    try:
        return run_demo(settings, opts)
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER


def run_service(settings: Settings) -> int:
    """Start the broker (if embedded), metrics and the daemon; stop them in order on a signal."""
    from pipeline.broker import EmbeddedBroker
    from pipeline.daemon import Daemon
    from pipeline.hotswap import ModelReloader
    from pipeline.metrics import PipelineMetrics, serve_metrics
    from pipeline.processing import BatchProcessor
    from pipeline.registry import load_current

    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, asset_limit=settings.metrics.asset_limit)
    if settings.model.torch_threads:
        import torch

        torch.set_num_threads(settings.model.torch_threads)
    try:
        version, model = load_current(settings.model.registry, device=settings.model.device)
    except ModelUnavailableError as exc:
        metrics.model_reloads.labels("failed").inc()
        log.error("%s", exc)
        return EXIT_MODEL
    metrics.model_reloads.labels("ok").inc()
    log.info(
        "model %s loaded (%d sensors, threshold %.4f)",
        version,
        len(model.feature_names_in_),
        model.threshold_,
    )
    processor = BatchProcessor(settings, model, version, metrics)

    server = None
    broker = EmbeddedBroker() if settings.kafka.embedded else None
    try:
        if settings.metrics.enabled:
            try:
                server, port = serve_metrics(registry, settings.metrics.host, settings.metrics.port)
            except OSError as exc:
                log.error(
                    "cannot serve metrics on %s:%d: %s", settings.metrics.host, settings.metrics.port, exc
                )
                return EXIT_CONFIG
            log.info("metrics on http://%s:%d/metrics", settings.metrics.host, port)
        bootstrap = (
            broker.start().bootstrap_servers if broker is not None else settings.kafka.bootstrap_servers
        )
        topics = settings.kafka.topics
        names = [topics.input, topics.alerts, topics.dlq_topic] + ([topics.scores] if topics.scores else [])
        wanted = dict.fromkeys(names, topics.partitions)
        _provision(settings, bootstrap, wanted, replication_factor=1 if broker is not None else -1)
        reloader = ModelReloader(settings.model, processor, metrics)
        daemon = Daemon(settings, processor, metrics, bootstrap_servers=bootstrap, reloader=reloader)
        _install_signals(daemon.request_stop, settings.shutdown_grace_s)
        return daemon.run()
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER
    finally:
        if server is not None:
            server.shutdown()
        if broker is not None:
            broker.stop()


def _provision(
    settings: Settings, bootstrap: str, topics: dict[str, int], *, replication_factor: int
) -> None:
    """Create missing topics, retrying an unreachable cluster with backoff up to the exit deadline."""
    from pipeline.backoff import Backoff
    from pipeline.broker import ensure_topics

    kafka = settings.kafka
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
            )
            return
        except BrokerUnavailableError as exc:
            if time.monotonic() + backoff.maximum >= deadline:
                raise BrokerUnavailableError(f"{exc} (for {kafka.unavailable_exit_s}s)") from None
            log.warning("%s; retrying", exc)
            time.sleep(backoff.next_delay())


def _install_signals(request_stop: Callable[[], None], grace_s: float) -> None:
    """First SIGTERM/SIGINT: graceful stop with a deadline; a second one: immediate exit."""
    received = []

    def force(reason: str) -> None:
        log.error("%s: forcing exit", reason)
        logging.shutdown()
        os._exit(EXIT_FORCED)

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            force(f"second signal ({signal.Signals(signum).name})")
            return
        log.info("%s received: finishing the batch and shutting down", signal.Signals(signum).name)
        request_stop()
        timer = threading.Timer(grace_s, force, args=(f"shutdown took longer than {grace_s}s",))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
