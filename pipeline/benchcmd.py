"""``dhag-pipeline bench``: its arguments, and which benchmark each target runs."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from dhag.outpath import given_path
from pipeline.config import Settings

__all__ = ["add_bench_arguments", "run_bench_command"]

MAX_SEED = 2**32 - 1  # DHAG's random_state (dhag.params.MAX_SEED: not imported, it would import torch)


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _replicas(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 6:  # the scale bench's topic has 6 partitions: a seventh daemon would idle
        raise argparse.ArgumentTypeError(f"must be from 1 to 6 (one partition each of its 6), got {value}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_SEED:  # DHAG's random_state, which refused it only once a model trained
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {value}")
    return value


def _finite(text: str, ok: Callable[[float], bool], words: str) -> float:
    """``text`` as a float that ``ok`` takes (nan and inf never do), else argparse's error ``words``."""
    value = float(text)
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
    return value


def _positive(text: str) -> float:
    return _finite(text, lambda v: v > 0, "a finite number above 0")


def _not_negative(text: str) -> float:
    return _finite(text, lambda v: v >= 0, "a finite number, 0 or more")


def _more_than_two(text: str) -> float:
    return _finite(text, lambda v: v > 2, "a finite number more than 2")


TRAIN_READINGS = 2  # DHAG fits on 2 normal rows or more; 3-sigma needs 2 readings of an asset for a spread


def _least(need: int, interval_s: float, unit_s: float) -> str:
    """The least span, in ``unit_s`` seconds, that holds ``need`` readings ``interval_s`` apart: rounded
    up at four decimals, so that the value said is itself taken."""
    return f"{math.ceil(need * interval_s / unit_s * 10_000) / 10_000:g}"


def _too_short(args: argparse.Namespace) -> str | None:
    """What is wrong with a span option of ``args.target`` too short for the simulator to give it a
    reading (or, for a training history, the readings a model needs), else None. 0 hours that mean
    "none" are never too short."""
    hour, quiet = 3600.0, "of fault-free operation"
    spans: list[tuple[str, float, float, float, int, str]] = []  # option, value, unit, interval, need, use
    if args.target == "plant":
        from pipeline import plantbench as bench
        from pipeline.plantdetectors import HST_CALIBRATION_ONE_IN

        every = bench.STREAM_INTERVAL_S
        need = TRAIN_READINGS  # of each asset; hst also needs one history row to calibrate on
        if "hst" in (args.detectors or bench.DETECTORS):
            need = max(need, math.ceil(HST_CALIBRATION_ONE_IN / args.assets))
        history = ("--history-hours", args.history_hours, hour, bench.HISTORY_INTERVAL_S, need)
        spans.append((*history, "to train on"))
        if args.normal_hours > 0:
            spans.append(("--normal-hours", args.normal_hours, hour, every, 1, quiet))
    if args.target == "drift":
        from pipeline import driftbench

        every = driftbench.INTERVAL_S
        spans.append(("--history-hours", args.history_hours, hour, every, TRAIN_READINGS, "to train on"))
    if args.target in ("starts", "readback"):
        from pipeline import startsbench

        every = startsbench.HISTORY_INTERVAL_S
        spans.append(("--history-hours", args.history_hours, hour, every, TRAIN_READINGS, "to train on"))
        if args.minutes is not None:
            spans.append(("--minutes", args.minutes, 60.0, startsbench.INTERVAL_S, 1, "to stream"))
    if args.target == "feedback" and args.quiet_hours > 0:
        from pipeline import feedbackbench

        spans.append(("--quiet-hours", args.quiet_hours, hour, feedbackbench.INTERVAL_S, 1, quiet))
    for option, value, unit_s, interval_s, need, use in spans:
        if value * unit_s // interval_s < need:  # as the simulator counts its rows
            readings = "a reading" if need == 1 else f"{need} readings of each asset"
            return (
                f"{option} {value:g} ({value * unit_s:g} s) is too short for {readings} {use} "
                f"(one every {interval_s:g} s); give at least {_least(need, interval_s, unit_s)}"
            )
    return None


def _no_fault(args: argparse.Namespace) -> str | None:
    """What is wrong with ``bench plant --minutes`` too few for the fault stream to schedule a fault
    (every detection figure would be empty), else None."""
    if args.target != "plant" or args.minutes is None:
        return None
    from pipeline.plantbench import FAULT_SLOT_MINUTES

    slot = FAULT_SLOT_MINUTES
    if args.minutes >= slot:
        return None
    return (
        f"--minutes {args.minutes:g} schedules no fault: the fault stream gives each asset one fault per "
        f"{slot:g} simulated minutes, so detection would measure nothing; give at least {slot:g}"
    )


# The targets each option serves (as its help says); --config and --json serve every one.
SERVES = {
    "--records": ("pipeline", "scale"),
    "--rate": ("pipeline", "soak"),
    "--duration": ("pipeline",),
    "--seed": ("plant", "drift", "feedback", "starts", "readback"),
    "--seeds": ("plant",),
    "--assets": ("plant", "drift", "feedback", "starts", "readback"),
    "--minutes": ("plant", "soak", "starts", "readback"),
    "--history-hours": ("plant", "drift", "starts", "readback"),
    "--normal-hours": ("plant",),
    "--detectors": ("plant",),
    "--quiet-hours": ("feedback",),
    "--interval": ("soak",),
    "--replicas": ("scale",),
    "--days": ("drift",),
}


class _Noted(argparse.Action):
    """argparse's ``store``, which also notes in ``bench_given`` each option given, so that one given to
    a target it does not serve is refused rather than ignored."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option: object = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        if self.option_strings:
            namespace.bench_given = (*getattr(namespace, "bench_given", ()), self.option_strings[0])


def _unused(args: argparse.Namespace) -> str | None:
    """What is wrong with an option given to a target it does not serve (the run would go by that
    target's own default), else None."""
    for option in getattr(args, "bench_given", ()):
        if (targets := SERVES.get(option)) and args.target not in targets:
            return f"{option} does nothing for {args.target}; it is an option of {', '.join(targets)} only"
    return None


def add_bench_arguments(bench: argparse.ArgumentParser, help_config: str) -> None:
    """The target and every option of ``bench``; each option's help names the targets it serves."""
    bench.register("action", None, _Noted)
    bench.set_defaults(bench_given=())
    bench.add_argument(
        "target",
        nargs="?",
        choices=("pipeline", "plant", "feedback", "soak", "scale", "drift", "starts", "readback"),
        default="pipeline",
        help="what to measure (default pipeline: throughput and latency)",
    )
    bench.add_argument("--config", help=help_config)
    bench.add_argument(
        "--records",
        type=_at_least_one,
        default=200_000,
        help="pipeline, scale: records for the throughput runs (default 200,000)",
    )
    bench.add_argument(
        "--rate",
        type=_at_least_one,
        default=5000,
        help="pipeline: offered load of the latency run; soak: its steady load; records/s (default 5000)",
    )
    bench.add_argument(
        "--duration", type=_positive, default=60.0, help="pipeline: seconds of the latency run (default 60)"
    )
    bench.add_argument("--json", type=given_path, help="also write the results to this file")
    bench.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="plant, drift, feedback, starts, readback: the (first) scenario's seed (default 0)",
    )
    bench.add_argument(
        "--seeds",
        type=_at_least_one,
        default=1,
        help="plant: how many scenarios to run (seeds --seed onwards; default 1); their numbers are pooled",
    )
    bench.add_argument(
        "--assets",
        type=_at_least_one,
        default=24,
        help="plant, drift, feedback, starts, readback: fleet size (default 24)",
    )
    bench.add_argument(
        "--minutes",
        type=_positive,
        help="plant: simulated minutes per asset (default 120); soak: minutes to run (default 30); "
        "starts, readback: simulated minutes streamed (default 1440)",
    )
    bench.add_argument(
        "--history-hours",
        type=_positive,
        default=24.0,
        help="plant, drift, starts, readback: hours of history to train on (default 24)",
    )
    bench.add_argument(
        "--normal-hours",
        type=_not_negative,
        default=24.0,
        help="plant: hours of fault-free operation per asset scored for false alerts (default 24; 0: none)",
    )
    plant_detectors = "plant: detectors (default: dhag sigma3 hst; opt-in: the other dhag models)"
    detectors = ("dhag", "dhag5", "dhag-classes", "dhag-snapshots", "dhag-reference", "sigma3", "hst")
    bench.add_argument("--detectors", nargs="+", choices=detectors, help=plant_detectors)
    quiet = (
        "feedback: answer the alerts of this many fault-free hours (default 0: the fault stream's first day)"
    )
    bench.add_argument("--quiet-hours", type=_not_negative, default=0.0, help=quiet)
    bench.add_argument(
        "--interval", type=_positive, default=60.0, help="soak: seconds between samples (default 60)"
    )
    bench.add_argument(
        "--replicas", type=_replicas, default=3, help="scale: the most daemons in the group (default 3)"
    )
    days = "drift: simulated days per scenario (default 7; more than 2: the shifts begin on day 2)"
    bench.add_argument("--days", type=_more_than_two, default=7.0, help=days)


def run_bench_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the benchmark ``args.target`` names; returns the exit code."""
    if unused := _unused(args):
        sys.stderr.write(f"bench {args.target}: {unused}; nothing was run\n")
        return 2
    if args.json is not None:  # said now, not once the benchmark's minutes or hours are spent
        from dhag.exceptions import InputError
        from dhag.outpath import check_results_out

        try:
            check_results_out(args.json)
        except InputError as exc:
            sys.stderr.write(f"bench {args.target}: {exc}\n")
            return 2
    given = args.detectors or []
    if again := next((name for i, name in enumerate(given) if name in given[:i]), None):
        # each would be run again and its tallies pooled with its first run's, as if of other faults
        sys.stderr.write(f"bench {args.target}: --detectors names {again!r} more than once; name each once\n")
        return 2
    if args.target == "plant" and (last := args.seed + args.seeds - 1) > MAX_SEED:
        sys.stderr.write(
            f"bench plant: --seed {args.seed} with --seeds {args.seeds} runs up to seed {last}; seeds go "
            f"from 0 to {MAX_SEED}\n"
        )
        return 2
    if short := _no_fault(args) or _too_short(
        args
    ):  # it would end in a traceback once the simulated rows are read
        sys.stderr.write(f"bench {args.target}: {short}\n")
        return 2
    if args.target == "feedback":
        from pipeline.feedbackbench import run_feedback_bench, run_quiet_feedback_bench

        if args.quiet_hours:
            return run_quiet_feedback_bench(
                settings, seed=args.seed, assets=args.assets, quiet_hours=args.quiet_hours, out=args.json
            )
        return run_feedback_bench(settings, seed=args.seed, assets=args.assets, out=args.json)
    if args.target == "soak":
        from pipeline.soak import SoakOptions, run_soak

        minutes = args.minutes if args.minutes is not None else 30.0
        return run_soak(
            settings, SoakOptions(minutes=minutes, rate=args.rate, interval_s=args.interval, out=args.json)
        )
    if args.target == "scale":
        from pipeline.scalebench import run_scale_bench

        return run_scale_bench(settings, records=args.records, replicas=args.replicas, out=args.json)
    if args.target == "plant":
        from pipeline.plantbench import run_plant_bench

        return run_plant_bench(
            settings,
            seed=args.seed,
            seeds=args.seeds,
            assets=args.assets,
            minutes=args.minutes if args.minutes is not None else 120.0,
            history_hours=args.history_hours,
            normal_hours=args.normal_hours,
            **({"detectors": tuple(args.detectors)} if args.detectors else {}),
            out=args.json,
        )
    if args.target == "drift":
        from pipeline.driftbench import run_drift_bench

        return run_drift_bench(
            settings,
            seed=args.seed,
            assets=args.assets,
            days=args.days,
            history_hours=args.history_hours,
            out=args.json,
        )
    if args.target in ("starts", "readback"):  # the same plant, its stops and their options
        if args.target == "starts":
            from pipeline.startsbench import run_starts_bench as run_stops_bench
        else:
            from pipeline.readbackbench import run_readback_bench as run_stops_bench
        return run_stops_bench(
            settings,
            seed=args.seed,
            assets=args.assets,
            history_hours=args.history_hours,
            minutes=args.minutes if args.minutes is not None else 1440.0,
            out=args.json,
        )
    from pipeline.bench import run_bench

    return run_bench(settings, records=args.records, rate=args.rate, duration=args.duration, out=args.json)
