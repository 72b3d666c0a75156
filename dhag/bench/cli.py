"""The ``dhag bench`` command: its arguments and what each benchmark runs.

A usage error is a :class:`~dhag.exceptions.ParameterError`: ``dhag`` prints it and exits 2.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from dhag import bench
from dhag.bench import GAMES, RULES, TRANSFORMS
from dhag.bench.resultfile import read_table2
from dhag.exceptions import ParameterError
from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES
from dhag.outpath import check_results_out, given_path, through_link
from dhag.params import MAX_SEED, resolve_device
from dhag.scoreswrite import check_standard_output

__all__ = ["add_bench_parser", "comma_list", "run_bench"]


def comma_list(value: str | None) -> list[str]:
    """The non-empty items of a comma-separated option.

    >>> comma_list(" kdd, ,thyroid"), comma_list(None)
    (['kdd', 'thyroid'], [])
    """
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _seed_list(args: argparse.Namespace) -> list[int]:
    """Seeds ``first_seed .. first_seed + seeds - 1``: a run can be split over machines or sessions and
    joined with ``dhag bench merge``."""
    if args.seeds < 1 or args.first_seed < 0:
        raise ParameterError("--seeds must be at least 1 and --first-seed at least 0")
    if (last := args.first_seed + args.seeds - 1) > MAX_SEED:  # DHAG's random_state, said at its first fit
        raise ParameterError(
            f"--first-seed {args.first_seed} with --seeds {args.seeds} runs up to seed {last}; seeds go "
            f"from 0 to {MAX_SEED}"
        )
    return list(range(args.first_seed, args.first_seed + args.seeds))


def _check_counts(args: argparse.Namespace) -> None:
    """Refuse a count no benchmark can run with, naming its option, before any work: the library's own
    checks come later, in its parameters' names, and ended the command in a traceback."""
    from dhag.bench.epochs import MAX_EPOCHS

    for option, value, least, most in (
        ("--threads", args.threads, 1, None),
        ("--rows", args.rows, 2, None),
        ("--epochs", args.epochs, 1, None),
        ("--score-rows", args.score_rows, 1, None),
        ("--score-snapshots", args.score_snapshots, 1, None),
        ("--score-members", args.score_members, 1, None),
        ("--every", args.every, 1, MAX_EPOCHS),
        ("--dhag-members", args.dhag_members, 1, None),
        ("--dhag-snapshots", args.dhag_snapshots, 1, None),
        ("--peer-rows", args.peer_rows, 0, None),
    ):
        if value < least or (most is not None and value > most):
            within = f"at least {least}" if most is None else f"from {least} to {most}"
            raise ParameterError(f"{option} must be {within}. Got {value}.")


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark ``args.bench`` names; returns the exit status."""
    import torch

    from dhag.bench.peers import PEERS
    from dhag.bench.table2 import DETECTORS

    _check_counts(args)
    if args.bench == "show":
        check_standard_output("the tables dhag bench show prints have nowhere to go; nothing was read")
    elif args.json is None:  # a run of hours whose results would be printed nowhere
        check_standard_output("the results have nowhere to go: name a file with --json; nothing was run")
    if args.json is not None:  # a run of hours is not lost to a --json that cannot be written
        done = "run" if args.bench != "merge" else "merged"
        args.json = through_link(args.json, option="--json", done=done)  # a link stays, its file replaced
        check_results_out(args.json, done=done)
    # Names are checked before any work starts, not when a long run reaches them.
    for option, value in (("--datasets", args.datasets), ("--detectors", args.detectors)):
        if value is not None and not comma_list(value):  # an empty variable in a script: not "all"
            raise ParameterError(f"{option} names nothing ({value!r}); leave it out for the default")
    for option, given, known in (
        ("--datasets", comma_list(args.datasets), bench.DATASETS),
        ("--detectors", comma_list(args.detectors), DETECTORS),
        ("--capped-peers", comma_list(args.capped_peers), PEERS),
    ):
        if unknown := [name for name in given if name not in known]:
            raise ParameterError(f"unknown {option} {unknown}; choose from {', '.join(known)}")
        if again := next((name for i, name in enumerate(given) if name in given[:i]), None):
            raise ParameterError(f"{option} names {again!r} more than once; name each once")
    # The networks are small: on a 2-core machine one thread is steadier and often faster.
    torch.set_num_threads(args.threads)
    chosen = {"datasets": tuple(comma_list(args.datasets))} if args.datasets else {}
    seeds = _seed_list(args)
    if args.datasets is not None and args.bench in ("semisup", "speed"):  # it ran what it always runs
        runs = "Thyroid" if args.bench == "semisup" else "a synthetic table"
        raise ParameterError(f"{args.bench}: --datasets is not taken; it runs {runs}")
    if args.bf16 and args.bench != "speed":
        raise ParameterError(f"{args.bench}: --bf16 is taken by speed only")
    if args.bf16 and resolve_device(args.device).type != "cuda":
        raise ParameterError(
            f"--bf16 trains on a CUDA device only; --device {args.device} gives {resolve_device(args.device)}"
        )
    if args.bench not in ("merge", "show") and args.parts:
        raise ParameterError(f"{args.bench}: unexpected files {[str(p) for p in args.parts]}")
    if args.bench == "show":
        if not args.parts:
            raise ParameterError("show: give one or more table2 JSON files")
        for path in args.parts:
            try:
                result = read_table2(path)
            except ValueError as exc:
                raise ParameterError(f"show: {path}: {exc}") from exc
            print(f"{path}:\n{bench.format_table2(result, show_times=True)}\n")
    elif args.bench == "merge":
        if args.json is None or len(args.parts) < 2:
            raise ParameterError("merge: give two or more table2 JSON files and --json OUT")
        parts = []
        for path in args.parts:  # each checked as show checks it, its faults named with the file
            try:
                parts.append(read_table2(path))
            except ValueError as exc:
                raise ParameterError(f"merge: {path}: {exc}") from exc
        try:
            result = bench.merge_table2(parts)
        except ValueError as exc:  # parts that do not join: seeds in two, settings that differ
            raise ParameterError(f"merge: {exc}") from exc
        bench.write_json(result, args.json)
        print(bench.format_table2(result, show_times=True))
    elif args.bench == "table2":
        result = bench.run_table2(
            args.data,
            **chosen,
            seeds=seeds,
            detectors=tuple(comma_list(args.detectors)),
            json_path=args.json,
            progress=args.progress,
            max_train_rows=args.peer_rows or None,
            capped_peers=tuple(comma_list(args.capped_peers)),
            dhag_shift_mode=args.dhag_shift_mode,
            dhag_average_weights=args.dhag_average_weights,
            dhag_rules=args.dhag_rules,
            dhag_game=args.dhag_game,
            dhag_members=args.dhag_members,
            dhag_ce_weighting=args.dhag_ce_weighting,
            dhag_snapshots=args.dhag_snapshots,
            dhag_recipe=args.dhag_recipe,
            transform=args.transform,
        )
        print(bench.format_table2(result, show_times=True))
    elif args.bench == "epochs":
        if args.first_seed:
            raise ParameterError("epochs: --first-seed is not supported; it runs seeds 0 .. N-1")
        result = bench.run_epochs(
            args.data,
            **chosen,
            seeds=args.seeds,
            every=args.every,
            json_path=args.json,
            rules=args.dhag_rules,
            one_fit=args.one_fit,
            ce_weighting=args.dhag_ce_weighting,
            recipe=args.dhag_recipe,
        )
        print(bench.format_epochs(result))
    elif args.bench == "semisup":
        result = bench.run_semisup(
            args.data,
            seeds=seeds,
            json_path=args.json,
            ce_weighting=args.dhag_ce_weighting,
            recipe=args.dhag_recipe,
        )
        print(bench.format_semisup(result))
    else:
        result = bench.run_speed(
            rows=args.rows,
            epochs=args.epochs,
            score_rows=args.score_rows,
            device=args.device,
            json_path=args.json,
            score_snapshots=args.score_snapshots,
            score_members=args.score_members,
            recipe=args.dhag_recipe,
            bf16=args.bf16,
        )
        print(json.dumps({k: v for k, v in result.items() if k != "meta"}, indent=2))
    return 0


def add_bench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``dhag`` command's subparsers and return its parser."""
    parser = subparsers.add_parser("bench", help="benchmarks: table2, epochs, semisup, speed; merge, show")
    parser.add_argument("bench", choices=("table2", "epochs", "semisup", "speed", "merge", "show"))
    parser.add_argument(
        "parts",
        nargs="*",
        type=given_path,
        help="merge: table2 JSON files of disjoint seeds; show: files to print",
    )
    parser.add_argument(
        "--data",
        default="../shared/datasets",
        type=given_path,
        help="table2, epochs, semisup: the benchmark datasets folder (default ../shared/datasets, from the "
        "working directory)",
    )
    parser.add_argument(
        "--datasets",
        help="table2, epochs (default: all five; epochs: thyroid,pageblocks,shuttle, KDD would take hours)",
    )
    parser.add_argument(
        "--detectors",
        default="dhag,iforest,ecod,knn,ocsvm,deepsvdd",
        help="table2: comma-separated detectors (default: all six, dhag,iforest,ecod,knn,ocsvm,deepsvdd)",
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="table2, epochs, semisup: how many seeds (default 5)"
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="table2, semisup: run seeds S .. S+N-1 (default 0)"
    )
    parser.add_argument("--rows", type=int, default=200_000, help="speed: training rows (default 200,000)")
    parser.add_argument("--epochs", type=int, default=3, help="speed: epochs to time (default 3)")
    parser.add_argument(
        "--score-rows", type=int, default=1_048_576, help="speed: rows scored per repeat (default 1,048,576)"
    )
    parser.add_argument(
        "--score-snapshots", type=int, default=1, help="speed: the scored model keeps N snapshots (default 1)"
    )
    parser.add_argument(
        "--score-members", type=int, default=1, help="speed: the scored model has N networks (default 1)"
    )
    parser.add_argument(
        "--every", type=int, default=5, help="epochs: train to every N-th epoch count (default 5)"
    )
    parser.add_argument(
        "--one-fit", action="store_true", help="epochs: all snapshots of a seed from one training"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="speed: auto (CUDA when present), cpu or cuda[:N] (default auto); the others train where the "
        "library does, auto",
    )
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="speed: train under bfloat16 autocast, CUDA only (default off: float32); scoring stays float32",
    )
    parser.add_argument("--json", type=given_path, help="write the results as JSON")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, every benchmark (default 1)")
    parser.add_argument(
        "--peer-rows",
        type=int,
        default=20_000,
        help="table2: training rows of the capped peers at most (default 20,000; 0: no cap)",
    )
    parser.add_argument(
        "--capped-peers",
        default="ocsvm,knn,deepsvdd",
        help="table2: comma-separated peers under --peer-rows (default ocsvm,knn,deepsvdd)",
    )
    parser.add_argument("--progress", action="store_true", help="table2: show DHAG's per-epoch progress bar")
    parser.add_argument(
        "--dhag-shift-mode",
        choices=("offset", "beyond"),
        default="offset",
        help="table2: DHAG's shifted-row rule when a fit collapses (default: the library's, offset)",
    )
    parser.add_argument(
        "--dhag-average-weights",
        action="store_true",
        help="table2: DHAG keeps the mean of the second half's epoch weights (average_weights=True)",
    )
    parser.add_argument(
        "--dhag-rules",
        choices=RULES,
        default="retry",
        help="table2, epochs: when DHAG's anti-collapse rules apply (default: retry, the library's; "
        "retry-controller, none, always, shift, controller measure them on their own)",
    )
    parser.add_argument(
        "--dhag-game",
        choices=GAMES,
        default="cooperative",
        help="table2: cooperative (Algorithm 1, the library's; default) or adversarial (the perturbators "
        "ascend L_ce)",
    )
    parser.add_argument(
        "--dhag-members",
        type=int,
        default=1,
        help="table2: DHAG's score is the mean of N models from their own seeds (default 1, the library's)",
    )
    parser.add_argument(
        "--dhag-snapshots",
        type=int,
        default=1,
        help="table2: DHAG's score is the mean of N end-of-epoch states of its training (default 1)",
    )
    parser.add_argument(
        "--dhag-ce-weighting",
        choices=CE_WEIGHTINGS,
        default="rows",
        help="table2, epochs, semisup: L_ce row by row (rows, the library's, paper eq. 2; default) or per "
        "class (classes, as the reference implementation)",
    )
    parser.add_argument(
        "--dhag-recipe",
        choices=RECIPES,
        default="paper",
        help="table2, epochs, semisup, speed: networks and regularisers as the paper (the library's; "
        "default) or as the reference implementation",
    )
    parser.add_argument(
        "--transform",
        choices=TRANSFORMS,
        default="zscore",
        help="table2: inputs of every detector, z-scored (default) or, with yeo-johnson, power-transformed "
        "first (not the protocol)",
    )
    parser.set_defaults(func=run_bench)
    return parser
