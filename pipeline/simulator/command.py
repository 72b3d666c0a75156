"""``dhag-pipeline simulate``: write a normal-operation history, or stream the plant to Kafka."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
from collections.abc import Sequence

from dhag.outpath import given_path
from pipeline.config import Settings
from pipeline.configvalues import EMBEDDED, check_addresses
from pipeline.signals import install_signals
from pipeline.simulator.faults import PLANT_EVENT_KINDS
from pipeline.simulator.fleet import DEFAULT_TYPES, Fleet
from pipeline.simulator.stream import stream_fleet

__all__ = [
    "PLANT_EVENT_DURATION_S",
    "add_arguments",
    "parse_plant_event",
    "add_stops",
    "parse_stop",
    "run_simulate",
]

log = logging.getLogger(__name__)

# A stopped stream's send still blocked (up to 10 s, stream.SEND_BLOCK_MS), its last flush (up to 30 s,
# stream.FLUSH_S) and its close (1 s).
STOP_GRACE_S = 45.0
PLANT_EVENT_DURATION_S = 1800.0  # long enough for the bearings (10-minute thermal lag) to settle warm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's options."""
    parser.add_argument("--assets", type=int, default=24, help="fleet size (default 24)")
    types = ",".join(DEFAULT_TYPES)
    parser.add_argument("--types", default=types, help=f"machine types, assigned in turn (default {types})")
    parser.add_argument(
        "--seed", type=int, default=0, help="the plant: same seed, same assets and readings (default 0)"
    )
    parser.add_argument(
        "--run", type=int, default=None, help="operation/noise stream (default: 0 for a history, 1 streaming)"
    )
    parser.add_argument(
        "--history", type=given_path, help="write normal operation to this .csv or .parquet file"
    )
    parser.add_argument("--hours", type=float, default=24.0, help="history: simulated hours (default 24)")
    parser.add_argument(
        "--interval", type=float, default=30.0, help="history: seconds between rows (default 30)"
    )
    parser.add_argument("--bootstrap", help="Kafka to stream to (default: kafka.bootstrap_servers)")
    parser.add_argument("--topic", help="readings topic (default: kafka.topics.input)")
    parser.add_argument(
        "--truth-topic", default="sensor-truth", help="ground-truth topic (default sensor-truth)"
    )
    parser.add_argument(
        "--rate", type=float, default=48.0, help="records per second, all assets together (default 48)"
    )
    parser.add_argument(
        "--speedup", type=float, default=10.0, help="simulated seconds per real second (default 10)"
    )
    parser.add_argument("--duration", type=float, help="seconds to stream (default: until Ctrl-C or SIGTERM)")
    parser.add_argument(
        "--fault-rate", type=float, default=0.5, help="faults per asset per simulated hour (default 0.5)"
    )
    parser.add_argument(
        "--plant-event",
        metavar="AT[:DURATION]",
        help="a plant-wide event: the cooling water 8 deg C warm on every asset from AT simulated seconds "
        f"after the stream starts, for DURATION (default {PLANT_EVENT_DURATION_S:g}); default: none",
    )
    parser.add_argument(
        "--stop",
        action="append",
        metavar="ASSET:AT:DURATION",
        help="switch ASSET off AT simulated seconds after the history or the stream starts, for DURATION "
        "seconds, then start it again cold (a standby machine, a planned stop; no fault); repeatable",
    )
    parser.add_argument(
        "--plant-event-types",
        metavar="TYPES",
        help="only the assets of these machine types share the event (e.g. compressor); default: all",
    )


def parse_plant_event(spec: str) -> tuple[float, float]:
    """``(at_s, duration_s)`` of a ``--plant-event`` value ``AT[:DURATION]``; ValueError naming the option.

    Example
    -------
    >>> parse_plant_event("600"), parse_plant_event("600:900")
    ((600.0, 1800.0), (600.0, 900.0))
    """
    at_text, colon, duration_text = spec.partition(":")
    try:
        at = float(at_text)
        duration = float(duration_text) if colon else PLANT_EVENT_DURATION_S
    except ValueError:
        at = duration = float("nan")
    if not (0 <= at < float("inf") and 0 < duration < float("inf")):
        raise ValueError(
            "--plant-event takes AT[:DURATION] in simulated seconds after the stream starts, AT 0 or more "
            f"and DURATION above 0 (e.g. 600:1800); got {spec!r}"
        )
    return at, duration


def parse_stop(spec: str) -> tuple[str, float, float]:
    """``(asset_id, at_s, duration_s)`` of a ``--stop`` value ``ASSET:AT:DURATION`` (an asset id may hold
    ``:`` itself); ValueError naming the option.

    Example
    -------
    >>> parse_stop("pump-02:3600:7200"), parse_stop("site:a:900:60")
    (('pump-02', 3600.0, 7200.0), ('site:a', 900.0, 60.0))
    """
    asset, at_text, duration_text = ([""] * 3 + spec.rsplit(":", 2))[-3:]
    try:
        at, duration = float(at_text), float(duration_text)
    except ValueError:
        at = duration = float("nan")
    if not (asset and 0 <= at < math.inf and 0 < duration < math.inf):
        raise ValueError(
            "--stop takes ASSET:AT:DURATION, an asset of the fleet, AT simulated seconds after the start "
            f"(0 or more) and DURATION above 0 (e.g. pump-02:3600:7200); got {spec!r}"
        )
    return asset, at, duration


def add_stops(fleet: Fleet, specs: Sequence[str] | None) -> list[str]:
    """Schedule every ``--stop`` value of ``specs`` on ``fleet``, from its present time; the problems with
    them, if any."""
    problems = []
    for spec in specs or []:
        try:
            asset, at, duration = parse_stop(spec)
            if asset not in fleet.asset_ids:
                raise ValueError(
                    f"--stop {spec!r}: {asset!r} is no asset of this fleet ({', '.join(fleet.asset_ids[:6])}"
                    f"{', ...' if len(fleet.asset_ids) > 6 else ''})"
                )
            fleet.add_stop(asset, fleet.t + at, fleet.t + at + duration)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def run_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """History mode when ``--history`` is given, else streaming mode."""
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    if negative := [f"{k} must be 0 or more, got {v}" for k, v in _seeds(args).items() if v < 0]:
        sys.stderr.write("".join(f"{line}\n" for line in negative))  # numpy's refusal names neither
        return 2
    try:
        if args.history is not None:
            fleet = Fleet(args.assets, types=types, seed=args.seed, run=args.run or 0)
        else:
            fleet = Fleet(args.assets, types=types, seed=args.seed, run=1 if args.run is None else args.run)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.history is not None:
        if args.plant_event is not None or args.plant_event_types is not None:
            sys.stderr.write("--plant-event is for streaming: a history is normal operation to train on\n")
            return 2
        if args.history.is_dir():  # else the rename onto it fails, "Is a directory" (or, for ".", "busy")
            sys.stderr.write(
                f"--history {str(args.history)!r} is a folder: --history names the file to write (a CSV, "
                f"or Parquet for a .parquet name), such as {str(args.history / 'history.csv')!r}\n"
            )
            return 2
        if args.history.suffix not in (".csv", ".parquet"):  # else CSV under any name, a .gz one too
            name = args.history.name
            sys.stderr.write(
                f"--history {str(args.history)!r} names neither a .csv nor a .parquet file: simulate "
                f"writes CSV to a .csv name and Parquet to a .parquet one, such as "
                f"{str(args.history.with_name((name.partition('.')[0] or name) + '.csv'))!r}\n"
            )
            return 2
        if not (0 < args.hours < math.inf and 0 < args.interval < math.inf):
            sys.stderr.write(
                "--hours and --interval must be finite numbers above 0, "
                f"got {args.hours:g}, {args.interval:g}\n"
            )
            return 2
        if problems := add_stops(fleet, args.stop):
            sys.stderr.write("".join(f"{line}\n" for line in problems))
            return 2
        if args.hours * 3600 < args.interval:  # a header alone, which 'models train' reads as no sensors
            sys.stderr.write(
                f"--hours {args.hours:g} ({args.hours * 3600:g} s) is shorter than one --interval "
                f"({args.interval:g} s): no row to write\n"
            )
            return 2
        # The readings as a plant's history holds them: as a live record carries each (Fleet.records:
        # 4 decimals, which every transmitter's step keeps), without the simulator's ground truth.
        truth = ["fault", "recovering", "standstill", "warming"]  # the last two where a machine stops
        frame = fleet.run(args.hours * 3600, args.interval).drop(columns=truth, errors="ignore")
        sensors = frame.columns[3:]
        frame[sensors] = frame[sensors].round(4)
        # All at once: a volume that refuses part of it leaves the file that was there, not a CSV cut
        # short that 'models train' would read as a shorter history.
        from dhag.atomicwrite import write_atomic_with  # dhag imports torch: only for a history

        parquet = args.history.suffix == ".parquet"
        try:
            args.history.parent.mkdir(parents=True, exist_ok=True)
            write_atomic_with(
                args.history,
                lambda fh: frame.to_parquet(fh, index=False) if parquet else frame.to_csv(fh, index=False),
            )
        except OSError as exc:
            sys.stderr.write(f"cannot write the history {str(args.history)!r}: {exc.strerror or exc}\n")
            return 2
        sys.stdout.write(f"wrote {len(frame)} rows of {fleet.plates.n} assets to {args.history}\n")
        return 0
    bootstrap = settings.kafka.bootstrap_servers if args.bootstrap is None else args.bootstrap
    if bootstrap == EMBEDDED:
        sys.stderr.write(
            "streaming needs a Kafka address: pass --bootstrap HOST:PORT or set kafka.bootstrap_servers "
            "(`dhag-pipeline demo` runs broker, daemon and simulator together)\n"
        )
        return 2
    if args.bootstrap is not None:  # as kafka.bootstrap_servers is checked, not waited on by the client
        try:
            bootstrap = check_addresses(args.bootstrap)
        except ValueError as exc:
            sys.stderr.write(f"--bootstrap: {exc}\n")
            return 2
    positive = {"--rate": args.rate, "--speedup": args.speedup}
    if args.duration is not None:
        positive["--duration"] = args.duration
    problems = [f"{k} must be above 0, got {v:g}" for k, v in positive.items() if not v > 0]
    # An infinite rate streams a frozen plant as fast as it goes, an infinite speedup NaN readings.
    problems += [
        f"{k} must be a finite number above 0, got {v:g}" for k, v in positive.items() if v == math.inf
    ]
    if not args.fault_rate >= 0:
        problems.append(f"--fault-rate must be 0 or more, got {args.fault_rate:g}")
    elif args.fault_rate == math.inf:  # a fault schedule drawn without end
        problems.append(f"--fault-rate must be a finite number, 0 or more, got {args.fault_rate:g}")
    problems += _add_plant_event(fleet, args) + add_stops(fleet, args.stop)
    if problems:
        sys.stderr.write("".join(f"{line}\n" for line in problems))
        return 2
    from pipeline.startup import STOPPED_BEFORE, stoppable_at_startup

    return stoppable_at_startup(
        lambda: _stream(settings, args, fleet, bootstrap), STOPPED_BEFORE["simulate"], log
    )


def _seeds(args: argparse.Namespace) -> dict[str, int]:
    """The seed options given: ``--seed``, and ``--run`` when set."""
    return {"--seed": args.seed} | ({} if args.run is None else {"--run": args.run})


def _add_plant_event(fleet: Fleet, args: argparse.Namespace) -> list[str]:
    """Schedule ``--plant-event`` on ``fleet``; the problems with the options, if any (nothing scheduled)."""
    if args.plant_event is None:
        return [] if args.plant_event_types is None else ["--plant-event-types needs --plant-event"]
    problems = []
    try:
        at, duration = parse_plant_event(args.plant_event)
    except ValueError as exc:
        problems.append(str(exc))
    types = None
    if args.plant_event_types is not None:
        types = [t.strip() for t in args.plant_event_types.split(",") if t.strip()]
        present = list(dict.fromkeys(fleet.machine_types))
        if not types or set(types) - set(present):
            problems.append(
                f"--plant-event-types must name machine types of this fleet ({', '.join(present)}); "
                f"got {args.plant_event_types!r}"
            )
    if problems:
        return problems
    (kind,) = PLANT_EVENT_KINDS
    hit = fleet.add_plant_event(kind, onset=fleet.t + at, duration=duration, types=types)
    log.info(
        "plant event %s on %d assets from %g to %g simulated seconds into the stream",
        kind,
        len(hit),
        at,
        at + duration,
    )
    return []


def _stream(settings: Settings, args: argparse.Namespace, fleet: Fleet, bootstrap: str) -> int:
    from kafka.errors import KafkaError

    from pipeline.brokerlink import client_options
    from pipeline.errors import EXIT_BROKER, BrokerUnavailableError
    from pipeline.topics import provision_topics

    topic = args.topic or settings.kafka.topics.input
    # Created here as the daemon creates them (kafka.topics.partitions, create_missing): a broker that
    # auto-creates topics would otherwise give them its own default partition count on the first record.
    try:
        provision_topics(
            settings.kafka,
            bootstrap,
            dict.fromkeys([topic, args.truth_topic], settings.kafka.topics.partitions),
        )
    except BrokerUnavailableError as exc:
        log.error("%s", exc)
        return EXIT_BROKER
    # SIGTERM (a container stopped) or Ctrl-C ends the stream as --duration does: what was sent is
    # delivered and counted; a second signal, or a broker that takes longer, forces the exit (code 1).
    stop = threading.Event()
    install_signals(stop.set, STOP_GRACE_S, stopping="delivering the records sent and stopping")
    try:
        stats = stream_fleet(
            fleet,
            bootstrap,
            topic=topic,
            truth_topic=args.truth_topic,
            rate=args.rate,
            speedup=args.speedup,
            duration_s=args.duration,
            stop=stop,
            fault_rate=args.fault_rate,
            producer_options=client_options(settings.kafka, bootstrap),  # as the daemon's clients reach it
        )
    except KafkaError as exc:  # the broker gone since the topics were made, a topic deleted
        log.error("Kafka at %s failed the stream to %s and %s: %s", bootstrap, topic, args.truth_topic, exc)
        return EXIT_BROKER
    if (sent := stats.deliveries).undelivered:  # said once while it streamed, and counted
        log.error(
            "Kafka at %s did not take %d of the %d records and truth events sent to %s and %s "
            "(%d delivered): %s",
            bootstrap,
            sent.undelivered,
            sent.sent,
            topic,
            args.truth_topic,
            sent.delivered,
            sent.first_error,
        )
        return EXIT_BROKER
    sys.stdout.write(f"streamed {stats.records} records and {stats.truth_events} truth events\n")
    return 0
