"""Command line: ``dhag train | score | info | sign | bench``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dhag.artifact import load_model, read_manifest, sign_artifact
from dhag.bench.cli import add_bench_parser
from dhag.columnlist import COLUMN_LIST_HELP, column_list
from dhag.estimator import DHAG
from dhag.exceptions import ArtifactError, DHAGError, InputError, ParameterError
from dhag.headerless import headerless_note, headerless_warning, numbers_for_names
from dhag.infotext import (
    SHOWN,
    column_kinds,
    counted,
    kept_weights,
    listed_in_part,
    shown_metadata,
    shown_name,
    threshold_rule,
    trained_rows,
)
from dhag.io import read_table
from dhag.labelhint import label_like_columns, label_like_warning
from dhag.legacy import dropped_note, read_as_before
from dhag.outofmemory import (
    loading_message,
    out_of_memory_message,
    reading_message,
    said_when_out_of_memory,
    saving_message,
    scoring_message,
)
from dhag.outpath import check_model_out, check_not_an_input, check_scores_out, out_file
from dhag.params import resolve_device
from dhag.progresslines import ProgressLines
from dhag.retry import describe_health
from dhag.rownote import with_row_note, written_cell
from dhag.scoreswrite import check_standard_output, write_scores
from dhag.signing import KEY_VARIABLE, PREVIOUS_KEY_VARIABLE
from dhag.stopsignals import Stopped, silenced, stopped_by_signals
from dhag.threshold import check_threshold
from dhag.topfeatures import top_features_cell
from dhag.trainargs import add_train_parser, named_as_option, untrained_model

__all__ = ["main"]

logger = logging.getLogger("dhag")


# The columns `dhag score` writes: an id column of the same name would be overwritten.
_SCORE_COLUMNS = ("score", "anomaly", "top_features")


def _id_columns(frame: pd.DataFrame, ids: list[str], path: Path) -> pd.DataFrame:
    """Take the id columns out of ``frame`` (in the order given) and return them: they identify rows,
    they are no features."""
    for name in ids:
        if name not in frame.columns:
            raise InputError(
                f"Id column {name!r} is not in {str(path)!r} "
                f"(columns: {[str(c) for c in frame.columns][:8]})."
            )
    return pd.DataFrame({name: frame.pop(name) for name in ids})


def _cmd_train(args: argparse.Namespace) -> int:
    categorical, passthrough, ids = args.categorical or [], args.passthrough or [], args.id_columns or []
    for name in ids:
        if name == args.label_column:
            raise InputError(f"{name!r} is the label column; it cannot also be an id column.")
        if name in categorical or name in passthrough:
            raise InputError(
                f"{name!r} is an id column; it cannot also be a feature (--categorical, --passthrough)."
            )
    model = untrained_model(args, categorical=categorical, passthrough=passthrough)
    check_model_out(args.out)
    check_not_an_input(args.out, {"--data": args.data}, writes="model", done="trained")
    text_columns = [*categorical, *ids]
    with said_when_out_of_memory(lambda e: reading_message(e, path=args.data, command="train", out=args.out)):
        frame, labels = read_table(args.data, label_column=args.label_column, text_columns=text_columns)
    numbers = numbers_for_names(args.data, [str(c) for c in frame.columns])
    if numbers:
        logger.warning(headerless_warning(args.data, numbers))
    _id_columns(frame, ids, args.data)
    for name in label_like_columns(frame, declared=[*categorical, *passthrough]):
        logger.warning(label_like_warning(name))

    def training_message(exc: BaseException) -> str:
        device = str(resolve_device(args.device)) + (" (--device auto)" if args.device == "auto" else "")
        shape = {"rows": len(frame), "features": frame.shape[1], "device": device}
        return out_of_memory_message(exc, **shape, batch_size=args.batch_size, out=str(args.out))

    lines = None if args.quiet or model.progress else ProgressLines(model.max_epochs)  # a log: no bar
    with said_when_out_of_memory(training_message):
        model.fit(frame, labels, on_epoch=lines)
        # A model written to flag rows: one whose threshold no score can exceed (fit only warns) is refused.
        check_threshold(model.threshold_, model.preprocessor_, model.preprocessor_.transform(frame))
    weights = sum(t.numel() * t.element_size() for t in model.net_.state_dict().values())
    with said_when_out_of_memory(
        lambda e: saving_message(
            e, out=args.out, weights=weights, members=args.members, snapshots=args.snapshots
        )
    ):
        # The columns that are no features are kept with the model, so that `dhag score` knows them again.
        metadata = {"source": str(args.data), "id_columns": ids, "label_column": args.label_column}
        model.save(args.out, metadata=metadata)
    t = model.training_
    print(
        f"trained on {trained_rows(t)} in "
        f"{t['fit_seconds']:.1f}s: {counted(t['epochs_run'], 'epoch')}, {kept_weights(t)} "
        f"({t['stopped_by']}); threshold {model.threshold_:.4f}; wrote {args.out}"
    )
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    if args.explain < 0:
        raise DHAGError(f"--explain must be 0 (none) or a count of features. Got {args.explain}.")
    if args.out is not None and str(args.out) == "-":  # the shell's name for standard output
        args.out = None
    ids = args.id_columns or []
    for name in ids:
        if name in _SCORE_COLUMNS:
            raise InputError(f"{name!r} is a column dhag score writes; it cannot also be an id column.")
    if args.out is None:
        check_standard_output()
    else:
        check_scores_out(args.out)
        inputs = {"--model": args.model, "--data": args.data}
        check_not_an_input(args.out, inputs, writes="scores", done="scored")
    try:
        device = str(resolve_device(args.device))
    except ParameterError as exc:
        raise named_as_option(exc, args) from None
    with said_when_out_of_memory(lambda e: loading_message(e, path=args.model, device=device, out=args.out)):
        model = load_model(args.model, device=args.device)
    for name in ids:
        if name in model.feature_names_in_:
            raise InputError(f"{name!r} is a feature of the model; it cannot also be an id column.")
    known = _known_columns(model, given=ids if args.id_columns is not None else None)
    with said_when_out_of_memory(lambda e: reading_message(e, path=args.data, command="score", out=args.out)):
        frame, _ = read_table(args.data, text_columns=[*model.preprocessor_.categorical, *ids, *known])
    carried = ids + [name for name in known if name in frame.columns and name not in ids]
    clashing = [name for name in carried if name in _SCORE_COLUMNS]
    if clashing:
        logger.warning(
            "left out of the scores: %s, the training's id or label column(s), named as a column "
            "dhag score writes",
            ", ".join(repr(n) for n in clashing),
        )
        frame = frame.drop(columns=clashing)
    out = _id_columns(frame, [name for name in carried if name not in clashing], args.data)
    if any(str(c) not in model.feature_names_in_ for c in frame.columns):
        try:
            model.preprocessor_.check_names([str(c) for c in frame.columns])
        except InputError as exc:
            raise InputError(f"{exc} {_unexpected_columns(args.data, frame, model)}") from None
    shape = {"rows": len(frame), "features": frame.shape[1], "device": str(model.device_)}
    with said_when_out_of_memory(lambda e: scoring_message(e, **shape, explain=args.explain, out=args.out)):
        _scores(model, frame, out, args.explain)
    write_scores(out, args.out)
    if len(frame) == 0:  # an export of an hour without readings: the header keeps a pipeline going
        logger.warning(
            "%r holds no rows to score, only the names of its columns: nothing was scored, and the scores "
            "hold their header alone",
            str(args.data),
        )
    logger.info(
        "scored %d rows, %d above threshold %.4f", len(out), int(out["anomaly"].sum()), model.threshold_
    )
    return 0


def _scores(model: DHAG, frame: pd.DataFrame, out: pd.DataFrame, explain: int) -> None:
    """Add to ``out`` the rows' scores, whether each is flagged, and with ``explain`` the features that
    raise a flagged row's score most."""
    scores = model.decision_function(frame)
    out["score"] = scores
    out["anomaly"] = (scores > model.threshold_).astype(int)
    if explain:
        flagged = np.flatnonzero(out["anomaly"].to_numpy())
        ranked = model.explain(frame.iloc[flagged], top=explain) if flagged.size else []
        out["top_features"] = ""
        for row, pairs in zip(flagged, ranked, strict=True):
            out.iloc[row, out.columns.get_loc("top_features")] = top_features_cell(pairs)


def _unexpected_columns(path: Path, frame: pd.DataFrame, model: DHAG) -> str:
    """What to do about columns of the file to score that are no feature of the model."""
    numbers = numbers_for_names(path, [str(c) for c in frame.columns])
    if numbers:
        return headerless_note(path, numbers, model.feature_names_in_)
    named = [f"x{i}" for i in range(frame.shape[1])]
    if path.suffix.lower() == ".npz" and [str(c) for c in frame.columns] == named:
        names = list(model.feature_names_in_)
        shown = repr(names) if len(names) <= 6 else f"[{', '.join(map(repr, names[:3]))}, ...]"
        return (
            "The NPZ file has no array 'feature_names', so its columns were named x0, x1, ...: save it "
            f"with the model's {len(names)} names beside X, as "
            f"np.savez(path, X=X, feature_names=np.array({shown}))."
        )
    return "Columns that identify rows are named with --id-columns."


def _known_columns(model: DHAG, *, given: list[str] | None) -> list[str]:
    """The columns ``dhag train`` was told are no features, as the model keeps them: its id columns
    (unless ``--id-columns`` were ``given`` to score), then its label column. A file to score that holds
    them has them carried into the scores. None for a model written otherwise (the pipeline's, or one
    saved with metadata that is no JSON object, which names none).

    >>> m = DHAG(); m.feature_names_in_ = ["flow"]
    >>> m.metadata_ = {"id_columns": ["asset"], "label_column": "label"}
    >>> _known_columns(m, given=None), _known_columns(m, given=["reading"])
    (['asset', 'label'], ['label'])
    """
    metadata = getattr(model, "metadata_", None)
    metadata = metadata if isinstance(metadata, dict) else {}
    ids = metadata.get("id_columns") if given is None else []
    names = [*(ids if isinstance(ids, list) else []), metadata.get("label_column")]
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and n not in model.feature_names_in_]


def _cmd_info(args: argparse.Namespace) -> int:
    manifest = read_manifest(args.model, with_signature=True)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    t = manifest.get("training", {})
    print(f"DHAG model, format {manifest['format_version']}")
    names = [shown_name(name) for name in manifest["feature_names"]]
    listed = listed_in_part(names) + (" (dhag info --json lists them)" if len(names) > SHOWN else "")
    print(f"features ({len(names)}): {listed}")
    for line in column_kinds(manifest.get("preprocessing", {})):
        print(line)
    ranges = manifest.get("preprocessing", {}).get("ranges") or {}
    if ranges:
        shown = [f"{shown_name(name)} [{lo:.4g}, {hi:.4g}]" for name, (lo, hi) in ranges.items()]
        print(f"training ranges: {listed_in_part(shown)}")
    # A setting the manifest leaves out is at its value from before it existed (dhag.legacy).
    settings = read_as_before(manifest.get("settings", {}))
    print(f"threshold: {manifest['threshold']:.6f} ({threshold_rule(settings)})")
    if note := dropped_note(settings):
        print(f"retrain: {note}; the retrainer trains candidates without it, as this model was trained")
    if isinstance(dropped := t.get("dropped_settings"), dict) and dropped:
        print(f"retrained without its parent's {', '.join(f'{k} {v}' for k, v in dropped.items())}")
    if manifest["signed_with_previous_key"]:
        print(f"signed: with {PREVIOUS_KEY_VARIABLE}, the key being rotated out; re-sign it with `dhag sign`")
    else:
        signed = "yes" if manifest["signed"] else "no"
        print(f"signed: {signed} (with {KEY_VARIABLE} set, only signed models load)")
    recipe, weighting = settings["recipe"], settings["ce_weighting"]
    print(f"recipe: {recipe} (networks and regularisers), L_ce weighed by {weighting}")
    print(
        f"trained: {trained_rows(t)}, "
        f"{counted(t.get('epochs_run'), 'epoch')} ({kept_weights(t)}, {t.get('stopped_by')}), "
        f"{t.get('fit_seconds')}s on {t.get('device')}"
    )
    if "ce_vs_constant" in t:
        print(f"training health: {describe_health(t)}")
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
    if t.get("outlier_probe_auroc") is not None:
        print(
            f"outlier probe: held-out rows pushed 6-9 sd in one column outscore the rows with AUROC "
            f"{t['outlier_probe_auroc']:.3f}; final lambda_norm {t.get('lambda_norm_final')}"
        )
    if manifest.get("metadata"):
        print(f"metadata: {json.dumps(shown_metadata(manifest['metadata']), sort_keys=True)}")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.model) > 1:
        raise DHAGError(f"--out names one file: sign {len(args.model)} models in place, or one at a time")
    if not os.environ.get(KEY_VARIABLE):
        raise DHAGError(f"{KEY_VARIABLE} is not set: there is no key to sign with")
    failed = []
    for model in args.model:  # each on its own, atomically: one unreadable file stops no other
        try:
            written = sign_artifact(model, args.out)
        except ArtifactError as exc:
            print(f"dhag sign: error: not signed: {exc}", file=sys.stderr)
            failed.append(str(model))
            continue
        print(f"signed {model} with the key in {KEY_VARIABLE}; wrote {written}")
    if failed:
        raise DHAGError(f"{len(failed)} of {len(args.model)} models not signed: {', '.join(failed)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dhag`` command."""
    parser = argparse.ArgumentParser(
        prog="dhag",
        description="DHAG anomaly detector for tabular data.",
        epilog="exit status: 0 done; 1 an unexpected failure (a traceback follows); 2 bad input, settings, "
        "options or model file, or out of memory reading, training, saving the model, loading the model, "
        "scoring or writing the scores (one line on stderr says "
        "which); 130 interrupted; 143 stopped by SIGTERM, 129 by SIGHUP (the file being written left as it "
        "was); 141 the reader of the output went away (dhag score ... | head).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    train = add_train_parser(sub)
    train.set_defaults(func=_cmd_train)

    score = sub.add_parser("score", help="score rows; writes CSV with score and anomaly columns")
    score.add_argument("--model", required=True, type=Path, help="the model file")
    score.add_argument("--data", required=True, type=Path, help="the rows: CSV, Parquet or NPZ")
    score.add_argument("--out", type=out_file("scores.csv"), help="CSV file to write (default, or -: stdout)")
    score.add_argument(
        "--id-columns",
        type=column_list,
        help="columns that identify rows: written first, as read, before the scores (default: the model's "
        f"own, from dhag train --id-columns, those the file holds); {COLUMN_LIST_HELP}",
    )
    score.add_argument(
        "--explain", type=int, default=0, metavar="N", help="top N features of flagged rows (default 0: none)"
    )
    score.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto (default cpu)")
    score.set_defaults(func=_cmd_score)

    info = sub.add_parser("info", help="describe a model artifact")
    info.add_argument("model", type=Path)
    info.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    info.set_defaults(func=_cmd_info)

    sign = sub.add_parser(
        "sign", help=f"sign a model with the key in {KEY_VARIABLE} (models written before it was set)"
    )
    sign.add_argument("model", type=Path, nargs="+", help="one or more models (e.g. a registry's *.dhag)")
    sign.add_argument(
        "--out",
        type=out_file("model.dhag"),
        help="where to write the signed model (one model only; default: in place)",
    )
    sign.set_defaults(func=_cmd_sign)

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or settings, 1 for other failures)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "bench" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        with stopped_by_signals():
            return int(args.func(args))
    except DHAGError as exc:
        if isinstance(exc, InputError):
            data = getattr(args, "data", None)
            said = with_row_note(str(exc), data, written=written_cell(data, exc.cell))
        else:
            said = str(exc)
        print(f"dhag {args.command}: error: {said}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`dhag score ... | head`): nothing left to say
        silenced()
        return 141
    except OSError as exc:  # a file the command was told to write (or read) that the system refuses
        print(f"dhag {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Stopped as exc:  # `timeout`, `kill`, a closed terminal: what was being written is gone
        print(f"dhag {args.command}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"dhag {args.command}: interrupted", file=sys.stderr)
        return 130
