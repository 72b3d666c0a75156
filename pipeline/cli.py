"""The ``dhag-pipeline`` command (also ``python -m pipeline``): run, check-config, models, bench, simulate,
demo, alerts, label, retrain, probe.

Exit codes: 0 clean stop; 1 forced stop (second signal or grace period exceeded) or unexpected error;
2 bad configuration (or a refused ``models`` command); 3 Kafka unreachable for longer than
``kafka.unavailable_exit_s``; 4 no usable model. A stop during start-up (:mod:`pipeline.startup`):
0 for a service, 128 + the signal's number for any other command. ``probe``
(:mod:`pipeline.probecmd`): 0 the endpoint answered 200, 1 anything else (Docker reserves 2 of a
health check).
"""

from __future__ import annotations

import argparse

# Loaded before start-up's signal handlers are armed: pydantic-core imports it from its Rust module as
# the settings load, and a Ctrl-C raised inside that import made pyo3 panic (a Rust backtrace and a
# traceback, exit 1) rather than stop with one line.
import datetime  # noqa: F401
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING

# Nothing heavier here: a stop is taken as one during start-up only once main() runs.
from pipeline.entry import service_stopped_before
from pipeline.errors import EXIT_BROKER, BrokerUnavailableError, ConfigError
from pipeline.runservice import EXIT_CONFIG, EXIT_MODEL, run_service
from pipeline.signals import EXIT_FORCED
from pipeline.startup import StartupInterrupted, StartupSignals

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["EXIT_CONFIG", "EXIT_FORCED", "EXIT_MODEL", "main"]

log = logging.getLogger("pipeline")


def _help_config() -> str:
    from pipeline.configsource import DEFAULT_CONFIG

    return f"YAML settings (default: ./{DEFAULT_CONFIG} if present, else built-in defaults)"


def _parser() -> argparse.ArgumentParser:
    # Imported here, not above: `probe` (a health check every few seconds) needs none of them.
    from pipeline.benchcmd import add_bench_arguments
    from pipeline.demoargs import add_arguments as add_demo_arguments
    from pipeline.modelcmd import add_arguments as add_models_arguments
    from pipeline.probecmd import add_arguments as add_probe_arguments
    from pipeline.simulator.command import add_arguments as add_simulate_arguments

    parser = argparse.ArgumentParser(prog="dhag-pipeline", description="The DHAG streaming scoring service.")
    sub = parser.add_subparsers(dest="command", required=True)
    help_config = _help_config()
    run = sub.add_parser("run", help="score the input topic until SIGTERM/SIGINT")
    run.add_argument("--config", help=help_config)
    check = sub.add_parser(
        "check-config",
        help="validate the settings and print the effective config; also checks, on this host, the TLS "
        "files, CUDA devices and the registry's model run and retrain need, but does not reach Kafka",
    )
    check.add_argument("--config", help=help_config)
    models = sub.add_parser(
        "models",
        help="the model registry: list, show V, promote V, rollback, hold, release, prune; "
        "train HISTORY: the first model",
    )
    add_models_arguments(models, help_config)
    bench = sub.add_parser(
        "bench", help="throughput and latency on a fresh embedded broker; `bench plant`: detection quality"
    )
    add_bench_arguments(bench, help_config)
    _add_feedback_parsers(sub, help_config)
    simulate = sub.add_parser("simulate", help="the simulated plant: a history file, or a stream to Kafka")
    simulate.add_argument("--config", help=help_config)
    add_simulate_arguments(simulate)
    demo = sub.add_parser("demo", help="broker + model + daemon + simulated plant, with a live summary")
    add_demo_arguments(demo, help_config)
    probe = sub.add_parser("probe", help="health check: the configured /live of the daemon or the retrainer")
    add_probe_arguments(probe)
    return parser


def _console_parser() -> argparse.ArgumentParser:
    """The parser of ``alerts`` and ``label`` alone (the same options as in the full one)."""
    parser = argparse.ArgumentParser(prog="dhag-pipeline", description="The DHAG streaming scoring service.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_console_parsers(sub, _help_config())
    return parser


def _add_feedback_parsers(sub: argparse._SubParsersAction, help_config: str) -> None:
    """The operator feedback loop's subcommands: alerts, label, retrain."""
    from pipeline.retrain.command import add_arguments as add_retrain_arguments

    _add_console_parsers(sub, help_config)
    retrain = sub.add_parser("retrain", help="the retrainer: labels + recent normal operation -> new model")
    retrain.add_argument("--config", help=help_config)
    add_retrain_arguments(retrain)


def _add_console_parsers(sub: argparse._SubParsersAction, help_config: str) -> None:
    """The operator consoles: alerts, label."""
    from pipeline.alertscmd import add_alerts_arguments, add_label_arguments

    alerts = sub.add_parser("alerts", help="recent alert episodes from the alerts topic, with their labels")
    alerts.add_argument("--config", help=help_config)
    add_alerts_arguments(alerts)
    label = sub.add_parser("label", help="label an alert: --anomaly (confirm) or --normal (false alarm)")
    label.add_argument("--config", help=help_config)
    add_label_arguments(label)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run a subcommand; returns the exit code.

    SIGTERM/SIGINT before a command has its own handlers (:mod:`pipeline.startup`) stops it with one
    line: exit 0 for a service, 128 + the signal's number for any other command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"]:  # before the full parser, whose subcommands import torch and pandas
        from pipeline.probecmd import main as probe

        return probe(argv[1:])
    try:
        signals = StartupSignals()
        try:
            return _main(argv, signals)
        finally:
            signals.disarm()
    except StartupInterrupted as exc:
        before = service_stopped_before(argv)
        log.warning("%s during start-up: stopped before %s", exc, before or "doing anything")
        return 0 if before else 128 + signal.Signals[str(exc)]


def _main(argv: list[str], signals: StartupSignals) -> int:
    from pipeline.config import load_settings
    from pipeline.configsource import config_file, no_file_note

    # The operator consoles parse with their own options only: the others import torch and pandas,
    # which took longer than the Kafka client's wait on an unreachable broker.
    if argv[:1] == ["alerts"]:  # '--since -5m' is refused saying what --since takes, as '--since=-5m' is
        from pipeline.alertsargs import since_joined

        argv = since_joined(argv)
    args = (_console_parser() if argv[:1] in (["alerts"], ["label"]) else _parser()).parse_args(argv)
    try:
        settings = load_settings(config_file(args.config), os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_CONFIG
    if not (args.command in ("run", "retrain") or args.command == "simulate" and args.history is None):
        signals.restore()  # no service start-up: stops as it always has (demo: in order, on Ctrl-C)
    if args.command == "check-config":
        from pipeline.configdump import effective_config
        from pipeline.hostchecks import host_notes, host_problems
        from pipeline.settingnotes import quotes_note, setting_notes

        config = config_file(args.config)
        if problems := host_problems(settings, os.environ, config):
            sys.stderr.write("".join(f"{line}\n" for line in problems))
            return EXIT_CONFIG
        sys.stdout.write(effective_config(settings))
        notes = [note for note in (no_file_note(config), quotes_note(os.environ)) if note]
        notes += setting_notes(settings, os.environ, config) + host_notes(settings, os.environ, config)
        for note in notes:
            sys.stderr.write(f"warning: {note}\n")
        return 0
    try:
        return _dispatch(settings, args)
    except ConfigError as exc:  # found once a command used it (a TLS file it cannot read)
        sys.stderr.write(f"{exc}\n")
        return EXIT_CONFIG


def log_start_notes(
    settings: Settings,
    *,
    retrainer: bool = False,
    environ: Mapping[str, str] | None = None,
    path: str | None = None,
) -> None:
    """Log, as ``run`` or ``retrain`` starts, the warnings of :func:`pipeline.settingnotes.start_notes`."""
    from pipeline.settingnotes import start_notes

    for note in start_notes(settings, retrainer=retrainer, environ=environ, path=path):
        log.warning("%s", note)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command in ("alerts", "label"):
        from pipeline.alertscmd import run_console

        return run_console(settings, args)
    if args.command == "models":
        from pipeline.modelcmd import run_models

        return run_models(settings, args)
    from pipeline.logs import configure_logging

    configure_logging(settings.logging)
    from pipeline.logs import redact_secrets

    redact_secrets(settings.kafka.security)
    if args.command in ("run", "retrain"):
        from pipeline.configsource import config_file
        from pipeline.hostchecks import no_registry_folder

        config, retrainer = config_file(args.config), args.command == "retrain"
        _log_paths(settings, config, retrainer=retrainer)
        log_start_notes(settings, retrainer=retrainer, environ=os.environ, path=config)
        if not retrainer and (missing := no_registry_folder(settings)) is not None:
            log.error("%s", missing)  # named with its key, not as a pointer file inside it
            return EXIT_MODEL
    if args.command == "simulate":
        from pipeline.simulator.command import run_simulate

        return run_simulate(settings, args)
    if args.command == "demo":
        return _demo(settings, args)
    if args.command == "retrain":
        from pipeline.retrain.command import run_retrain

        return run_retrain(settings, once=args.once)
    if args.command == "bench":
        from pipeline.benchcmd import run_bench_command

        return run_bench_command(settings, args)
    return run_service(settings)


def _log_paths(settings: Settings, config: str | None, *, retrainer: bool) -> None:
    """The files a service is about to use, absolute (relative ones in a config file are taken against
    its folder), so that a start from another folder or with another file shows in its log."""
    where = f"settings from {os.path.abspath(config)}" if config else "built-in settings (no config file)"
    paths = [f"model.registry {settings.model.registry}"]
    if retrainer:
        from pipeline.retrain.command import label_store_path

        paths.append(f"label store {label_store_path(settings)}")
    security = settings.kafka.security
    if security.security_protocol.endswith("SSL"):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if (path := getattr(security, key)) is not None:
                paths.append(f"kafka.security.{key} {path}")
    log.info("%s; %s", where, "; ".join(paths))


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.demo import DemoOptions, run_demo
    from pipeline.demoargs import TRAINING_OPTIONS, training_given

    opts = DemoOptions(
        duration=args.duration,
        assets=args.assets,
        seed=args.seed,
        rate=args.rate,
        speedup=args.speedup,
        fault_rate=args.fault_rate,
        every=args.every,
        config=args.config,
        json_out=args.json,
        operator_delay=args.operator_delay,
        operator_errors=args.operator_errors,
        retrain=not args.no_retrain,
        retrain_labels=args.retrain_labels,
        registry=args.registry,
        **(given := training_given(args)),
        training_flags=tuple(TRAINING_OPTIONS[name] for name in given),
        stops=tuple(args.stop or ()),
    )
    if problems := opts.problems():
        sys.stderr.write("".join(f"demo: {line}\n" for line in problems))
        return EXIT_CONFIG
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt_once)  # `docker stop`, `kill`: stop as Ctrl-C does
        signal.signal(signal.SIGHUP, _interrupt_once)  # its terminal closed: likewise
    try:
        return run_demo(settings, opts)
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER


def _interrupt_once(signum: int, _frame: FrameType | None) -> None:
    """The demo's SIGTERM or SIGHUP: the first stops it in order, as Ctrl-C does; a second kills it."""
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt(signal.Signals(signum).name)
