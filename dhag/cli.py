"""Command line: ``dhag train | score | info | bench``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dhag.artifact import load_model, read_manifest
from dhag.bench import GAMES, RULES, TRANSFORMS
from dhag.estimator import DHAG
from dhag.exceptions import DHAGError
from dhag.io import read_table
from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES

__all__ = ["main"]

logger = logging.getLogger("dhag")


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _cmd_train(args: argparse.Namespace) -> int:
    frame, labels = read_table(args.data, label_column=args.label_column)
    settings = {
        "max_epochs": args.max_epochs,
        "time_budget": args.time_budget,
        "device": args.device,
        "random_state": args.seed,
        "n_members": args.members,
        "snapshots": args.snapshots,
        "recipe": args.recipe,
        "ce_weighting": args.ce_weighting,
        "target_far": args.target_far,
        "validation_split": args.validation_split,
        "contamination": args.contamination,
        "categorical": _names(args.categorical),
        "passthrough": _names(args.passthrough),
        "progress": not args.quiet,
    }
    model = DHAG(**settings).fit(frame, labels)
    model.save(args.out, metadata={"source": str(args.data)})
    t = model.training_
    print(
        f"trained on {t['n_train']} rows ({t['n_known_anomalies']} known anomalies) in "
        f"{t['fit_seconds']:.1f}s: {t['epochs_run']} epochs, {_kept(t)} "
        f"({t['stopped_by']}); threshold {model.threshold_:.4f}; wrote {args.out}"
    )
    return 0


def _kept(training: dict) -> str:
    """Which weights a model kept: an epoch's, the mean over the last epochs (weight averaging), or
    several epochs' states scored by their mean (a snapshot ensemble)."""
    averaged, last = training.get("averaged_epochs", 0), training.get("epochs_run")
    if training.get("snapshot_epochs"):
        return f"the mean score of the states after epochs {', '.join(map(str, training['snapshot_epochs']))}"
    if averaged:
        return f"weights averaged over epochs {last - averaged + 1}-{last}"
    return f"kept epoch {training.get('best_epoch')}"


def _cmd_score(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=args.device)
    frame, _ = read_table(args.data)
    scores = model.decision_function(frame)
    out = frame.iloc[:, :0].copy()
    out["score"] = scores
    out["anomaly"] = (scores > model.threshold_).astype(int)
    if args.explain:
        flagged = np.flatnonzero(out["anomaly"].to_numpy())
        ranked = model.explain(frame.iloc[flagged], top=args.explain) if flagged.size else []
        out["top_features"] = ""
        for row, pairs in zip(flagged, ranked, strict=True):
            out.iloc[row, out.columns.get_loc("top_features")] = ";".join(f"{n}:{c:.4f}" for n, c in pairs)
    target = args.out if args.out else sys.stdout
    out.to_csv(target, index=False)
    logger.info(
        "scored %d rows, %d above threshold %.4f", len(out), int(out["anomaly"].sum()), model.threshold_
    )
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.model)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    t = manifest.get("training", {})
    print(f"DHAG model, format {manifest['format_version']}")
    print(f"features ({len(manifest['feature_names'])}): {', '.join(manifest['feature_names'][:20])}")
    ranges = manifest.get("preprocessing", {}).get("ranges") or {}
    if ranges:
        shown = [f"{name} [{lo:.4g}, {hi:.4g}]" for name, (lo, hi) in list(ranges.items())[:20]]
        print(f"training ranges: {', '.join(shown)}")
    print(f"threshold: {manifest['threshold']:.6f}")
    settings = manifest.get("settings", {})
    # Artifacts from before these settings existed were trained as the paper, row by row.
    recipe, weighting = settings.get("recipe", "paper"), settings.get("ce_weighting", "rows")
    print(f"recipe: {recipe} (networks and regularisers), L_ce weighed by {weighting}")
    print(
        f"trained: {t.get('n_train')} rows, {t.get('n_known_anomalies')} known anomalies, "
        f"{t.get('epochs_run')} epochs ({_kept(t)}, {t.get('stopped_by')}), "
        f"{t.get('fit_seconds')}s on {t.get('device')}"
    )
    if "ce_vs_constant" in t:
        verdict = "COLLAPSED: scores barely separate anything" if t.get("collapsed") else "learned"
        print(f"training health: L_ce at {t['ce_vs_constant']:.3f} of a constant predictor's ({verdict})")
    if len(t.get("attempts", [])) > 1:
        first, kept = t["attempts"][0], t["attempts"][-1]
        print(
            f"retried: the first training collapsed (L_ce at {first['ce_vs_constant']:.3f}); kept a retry "
            f"with ce_target={kept['ce_target']}, shift_weight={kept['shift_weight']}"
        )
    if t.get("members"):
        members = t["members"]
        retried = sum(len(m["attempts"]) > 1 for m in members)
        print(
            f"ensemble: the mean score of {len(members)} networks (seeds "
            f"{', '.join(str(m['seed']) for m in members)}; L_ce at "
            f"{', '.join(format(m['ce_vs_constant'], '.3f') for m in members)} of a constant predictor's; "
            f"{retried} retried); epochs and retry above are member 0's"
        )
    if "outlier_probe_auroc" in t:
        print(
            f"outlier probe: held-out rows pushed 6-9 sd in one column outscore the rows with AUROC "
            f"{t['outlier_probe_auroc']:.3f}; final lambda_norm {t.get('lambda_norm_final')}"
        )
    if manifest.get("metadata"):
        print(f"metadata: {json.dumps(manifest['metadata'], sort_keys=True)}")
    return 0


def _seed_list(args: argparse.Namespace) -> list[int]:
    """Seeds ``first_seed .. first_seed + seeds - 1``: a run can be split over machines or sessions and
    joined with ``dhag bench merge``."""
    if args.seeds < 1 or args.first_seed < 0:
        raise SystemExit("dhag bench: --seeds must be at least 1 and --first-seed at least 0")
    return list(range(args.first_seed, args.first_seed + args.seeds))


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from dhag import bench

    # The networks are small: on a 2-core machine one thread is steadier and often faster.
    torch.set_num_threads(args.threads)
    chosen = {"datasets": tuple(_names(args.datasets))} if args.datasets else {}
    seeds = _seed_list(args)
    if args.bench not in ("merge", "show") and args.parts:
        raise SystemExit(f"dhag bench {args.bench}: unexpected files {[str(p) for p in args.parts]}")
    if args.bench == "show":
        if not args.parts:
            raise SystemExit("dhag bench show: give one or more table2 JSON files")
        for path in args.parts:
            try:
                print(f"{path}:\n{bench.format_table2(json.loads(path.read_text()), show_times=True)}\n")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"dhag bench show: {path}: not a table2 result ({exc})") from exc
    elif args.bench == "merge":
        if args.json is None or len(args.parts) < 2:
            raise SystemExit("dhag bench merge: give two or more table2 JSON files and --json OUT")
        try:
            result = bench.merge_table2([json.loads(p.read_text()) for p in args.parts])
        except (OSError, ValueError) as exc:  # a JSON error is a ValueError too
            raise SystemExit(f"dhag bench merge: {exc}") from exc
        bench.write_json(result, args.json)
        print(bench.format_table2(result, show_times=True))
    elif args.bench == "table2":
        result = bench.run_table2(
            args.data,
            **chosen,
            seeds=seeds,
            detectors=tuple(_names(args.detectors)),
            json_path=args.json,
            progress=args.progress,
            max_train_rows=args.peer_rows or None,
            capped_peers=tuple(_names(args.capped_peers)),
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
            raise SystemExit("dhag bench epochs: --first-seed is not supported; it runs seeds 0 .. N-1")
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
            device=args.device,
            json_path=args.json,
            score_snapshots=args.score_snapshots,
        )
        print(json.dumps({k: v for k, v in result.items() if k != "meta"}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dhag`` command."""
    parser = argparse.ArgumentParser(prog="dhag", description="DHAG anomaly detector for tabular data.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on normal rows (CSV, Parquet or NPZ)")
    train.add_argument("--data", required=True, type=Path)
    train.add_argument("--out", required=True, type=Path)
    train.add_argument("--label-column", help="column with 1 = known anomaly, 0 = normal")
    train.add_argument("--categorical", help="comma-separated columns to one-hot encode")
    train.add_argument("--passthrough", help="comma-separated columns to keep unscaled")
    train.add_argument("--max-epochs", type=int, default=100)
    train.add_argument("--time-budget", type=float, help="stop training after this many seconds")
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--members",
        type=int,
        default=1,
        help="train N networks from their own seeds and score with their mean",
    )
    train.add_argument(
        "--snapshots",
        type=int,
        default=1,
        help="keep N end-of-epoch states over the second half of training and score with their mean",
    )
    train.add_argument(
        "--recipe",
        choices=RECIPES,
        default="paper",
        help="networks and regularisers as the paper (default) or as the reference implementation",
    )
    train.add_argument(
        "--ce-weighting", choices=CE_WEIGHTINGS, default="rows", help="L_ce row by row (default) or per class"
    )
    train.add_argument("--target-far", type=float, default=0.01, help="false-alarm rate of the threshold")
    train.add_argument("--contamination", type=float, help="expected anomaly ratio instead of --target-far")
    train.add_argument(
        "--validation-split",
        choices=("random", "blocks", "last"),
        default="random",
        help="rows the threshold is calibrated on: a random slice; for data in time order, stretches "
        "spread over it (blocks) or the last rows",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)

    score = sub.add_parser("score", help="score rows; writes CSV with score and anomaly columns")
    score.add_argument("--model", required=True, type=Path)
    score.add_argument("--data", required=True, type=Path)
    score.add_argument("--out", type=Path, help="CSV file to write (default: stdout)")
    score.add_argument("--explain", type=int, default=0, metavar="N", help="top N features of flagged rows")
    score.add_argument("--device", default="cpu")
    score.set_defaults(func=_cmd_score)

    info = sub.add_parser("info", help="describe a model artifact")
    info.add_argument("model", type=Path)
    info.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    info.set_defaults(func=_cmd_info)

    bench = sub.add_parser("bench", help="benchmarks: table2, epochs, semisup, speed; merge, show")
    bench.add_argument("bench", choices=("table2", "epochs", "semisup", "speed", "merge", "show"))
    bench.add_argument(
        "parts", nargs="*", type=Path, help="merge: table2 JSON files of disjoint seeds; show: files to print"
    )
    bench.add_argument("--data", default="../shared/datasets", type=Path, help="benchmark datasets folder")
    bench.add_argument(
        "--datasets", help="default: all five; epochs: thyroid,pageblocks,shuttle (KDD would take hours)"
    )
    bench.add_argument("--detectors", default="dhag,iforest,ecod,knn,ocsvm,deepsvdd")
    bench.add_argument("--seeds", type=int, default=5, help="how many seeds")
    bench.add_argument(
        "--first-seed", type=int, default=0, help="table2, semisup: run seeds S .. S+N-1 (default 0)"
    )
    bench.add_argument("--rows", type=int, default=200_000, help="speed: training rows")
    bench.add_argument("--epochs", type=int, default=3, help="speed: epochs to time")
    bench.add_argument(
        "--score-snapshots", type=int, default=1, help="speed: the scored model keeps N snapshots (default 1)"
    )
    bench.add_argument("--every", type=int, default=5, help="epochs: train to every N-th epoch count")
    bench.add_argument(
        "--one-fit", action="store_true", help="epochs: all snapshots of a seed from one training"
    )
    bench.add_argument("--device", default="auto")
    bench.add_argument("--json", type=Path, help="write the results as JSON")
    bench.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    bench.add_argument("--peer-rows", type=int, default=20_000, help="table2: slow peers row cap, 0: none")
    bench.add_argument("--capped-peers", default="ocsvm,knn,deepsvdd", help="table2: peers under the cap")
    bench.add_argument("--progress", action="store_true")
    bench.add_argument(
        "--dhag-shift-mode",
        choices=("offset", "beyond"),
        default="offset",
        help="table2: DHAG's shifted-row rule when a fit collapses (default: the library's, offset)",
    )
    bench.add_argument(
        "--dhag-average-weights",
        action="store_true",
        help="table2: DHAG keeps the mean of the second half's epoch weights (average_weights=True)",
    )
    bench.add_argument(
        "--dhag-rules",
        choices=RULES,
        default="retry",
        help="table2, epochs: when DHAG's anti-collapse rules apply (default: retry, the library's; "
        "retry-controller, none, always, shift, controller measure them on their own)",
    )
    bench.add_argument(
        "--dhag-game",
        choices=GAMES,
        default="cooperative",
        help="table2: cooperative (Algorithm 1, the library's) or adversarial (the perturbators ascend L_ce)",
    )
    bench.add_argument(
        "--dhag-members",
        type=int,
        default=1,
        help="table2: DHAG's score is the mean of N models from their own seeds (default 1, the library's)",
    )
    bench.add_argument(
        "--dhag-snapshots",
        type=int,
        default=1,
        help="table2: DHAG's score is the mean of N end-of-epoch states of its training (default 1)",
    )
    bench.add_argument(
        "--dhag-ce-weighting",
        choices=CE_WEIGHTINGS,
        default="rows",
        help="table2, epochs, semisup: L_ce row by row (the library's, paper eq. 2) or per class (reference)",
    )
    bench.add_argument(
        "--dhag-recipe",
        choices=RECIPES,
        default="paper",
        help="table2, epochs, semisup: networks and regularisers as the paper (the library's) or as the "
        "reference implementation",
    )
    bench.add_argument(
        "--transform",
        choices=TRANSFORMS,
        default="zscore",
        help="table2: inputs of every detector; yeo-johnson adds a power transform (not the protocol)",
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or settings, 1 for other failures)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "bench" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except DHAGError as exc:
        print(f"dhag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dhag {args.command}: interrupted", file=sys.stderr)
        return 130
