"""The ``dhag`` command's parser, and what ``dhag train`` and ``dhag sign`` do (``score`` and ``info`` are
:mod:`dhag.scorecmd` and :mod:`dhag.infocmd`; ``bench`` is :mod:`dhag.bench.cli`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import IO

from dhag.artifact import sign_artifact
from dhag.bench.cli import add_bench_parser
from dhag.columnlist import COLUMN_LIST_HELP, column_list
from dhag.exceptions import ArtifactError, DHAGError, InputError
from dhag.headerless import headerless_warning, numbers_for_names
from dhag.infocmd import cmd_info
from dhag.infotext import counted, kept_weights, trained_rows
from dhag.io import read_table
from dhag.labelhint import label_like_columns, label_like_warning
from dhag.labelvalues import LabelValues
from dhag.modelroom import check_room_for_model, least_model_bytes
from dhag.namehints import not_columns
from dhag.outofmemory import out_of_memory_message, reading_message, said_when_out_of_memory, saving_message
from dhag.outpath import check_model_out, check_not_an_input, given_path, model_path, out_file, through_link
from dhag.params import resolve_device
from dhag.progresslines import ProgressLines
from dhag.scorecmd import cmd_score, id_columns
from dhag.scoreswrite import check_standard_output, print_out
from dhag.signing import KEY_VARIABLE
from dhag.textcolumns import text_columns_refusal, undeclared_text
from dhag.threshold import check_threshold
from dhag.trainargs import add_train_parser, label_values, untrained_model

__all__ = ["build_parser"]

logger = logging.getLogger("dhag")


def _too_few_normals(args: argparse.Namespace, rows: int, normals: int, values: LabelValues | None) -> str:
    """The refusal of ``args.data``, of ``rows`` rows, ``normals`` of them normal (fewer than 2): a file
    of a single row is said to be one, and the rows the label column marked as known anomalies are
    said, with the values that marked them."""
    said = f"Need at least 2 normal rows to train. Got {normals}: "
    marked = f"({'1' if values is None else values.marking()})"
    if rows == 1:
        said += f"{str(args.data)!r} holds only 1 row"
        if normals == 0:
            said += f", which --label-column {args.label_column!r} marks as a known anomaly {marked}"
        return said + "."
    return (
        f"{said}--label-column {args.label_column!r} marks {rows - normals} of the {rows} rows as known "
        f"anomalies {marked}."
    )


def _cmd_train(args: argparse.Namespace) -> int:
    categorical, passthrough, ids = args.categorical or [], args.passthrough or [], args.id_columns or []
    for name in ids:
        if name == args.label_column:
            raise InputError(f"{name!r} is the label column; it cannot also be an id column.")
        if name in categorical or name in passthrough:
            raise InputError(
                f"{name!r} is an id column; it cannot also be a feature (--categorical, --passthrough)."
            )
    values = label_values(args)
    model = untrained_model(args, categorical=categorical, passthrough=passthrough)
    given = args.out
    check_not_an_input(given, {"--data": args.data}, writes="model", done="trained")
    args.out = through_link(given, done="trained")  # a link stays, and the file it leads to is replaced
    check_model_out(args.out)
    text_columns = [*categorical, *ids]
    with said_when_out_of_memory(lambda e: reading_message(e, path=args.data, command="train", out=args.out)):
        frame, labels = read_table(
            args.data,
            label_column=args.label_column,
            text_columns=text_columns,
            named=passthrough,
            label_values=values,
        )
    numbers = numbers_for_names(args.data, [str(c) for c in frame.columns])
    if numbers:
        logger.warning(headerless_warning(args.data, numbers))
    id_columns(frame, ids, args.data)
    for option, named in (("--categorical", categorical), ("--passthrough", passthrough)):
        if unknown := [n for n in named if n not in frame.columns]:  # said as the option, not the setting
            columns, among = [str(c) for c in frame.columns], repr(str(args.data))
            raise InputError(not_columns(f"{option} names", unknown, columns, among=among))
    if frame.shape[1] == 0:  # every column is an id or the label
        named = [f"--id-columns ({', '.join(map(repr, ids))})"] if ids else []
        named += [f"--label-column ({args.label_column!r})"] if args.label_column is not None else []
        raise InputError(
            f"{str(args.data)!r} holds no column to train on: each of its columns is named by "
            f"{' or '.join(named)}, and ids and labels are no features; nothing was trained."
        )
    if len(frame) == 0:  # a header alone (an export of an hour without readings)
        raise InputError(
            f"{str(args.data)!r} holds no rows to train on, only the names of its columns: train on a "
            "file of readings; nothing was trained."
        )
    if len(texts := undeclared_text(frame, declared=[*categorical, *passthrough])) > 1:  # fit names one
        raise InputError(text_columns_refusal(frame, texts, ids=ids, categorical=categorical))
    if (normals := len(frame) if labels is None else int((labels == 0).sum())) < 2:
        raise InputError(_too_few_normals(args, len(frame), normals, values))
    check_room_for_model(args.out, least_model_bytes(model, frame.shape[1], rows=len(frame)))
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
        metadata.update(values.metadata() if values is not None else {})  # what the label's text meant
        model.save(args.out, metadata=metadata)
    t = model.training_
    print_out(
        f"trained on {trained_rows(t)} in "
        f"{t['fit_seconds']:.1f}s: {counted(t['epochs_run'], 'epoch')}, {kept_weights(t)} "
        f"({t['stopped_by']}); threshold {model.threshold_:.4f}; wrote {args.out}"
        f"{'' if args.out == given else f' (the file {given} links to)'}",
        what="how training went",
        done=f"; the model was trained and written whole to {str(args.out)!r}",
    )
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.model) > 1:
        raise DHAGError(f"--out names one file: sign {len(args.model)} models in place, or one at a time")
    if not os.environ.get(KEY_VARIABLE):
        raise DHAGError(f"{KEY_VARIABLE} is not set: there is no key to sign with")
    if args.out is not None:  # checked as train's --out is: '-', a folder, a path under a file, /proc
        args.out = through_link(args.out, done="signed")
        check_model_out(args.out, done="signed")
    failed = []
    for model in args.model:  # each on its own, atomically: one unreadable file stops no other
        try:
            # A link (a registry's current model) stays, and the file it leads to is signed in place.
            in_place = through_link(model, option="the model", done="signed")
            written = sign_artifact(in_place, args.out)
        except (ArtifactError, InputError) as exc:
            print(f"dhag sign: error: not signed: {exc}", file=sys.stderr)
            failed.append(str(model))
            continue
        print_out(
            f"signed {model} with the key in {KEY_VARIABLE}; wrote {written}",
            what=f"that {str(model)!r} was signed",
            done=f"; it was signed and written whole to {str(written)!r}",
        )
    if failed:
        raise DHAGError(f"{len(failed)} of {len(args.model)} models not signed: {', '.join(failed)}")
    return 0


class _Parser(argparse.ArgumentParser):
    """A parser whose help, the one product of ``--help``, is refused with standard output closed
    (``>&-``), as every command whose product is what it prints is, and whose write the system refuses
    (``> /dev/full``) is said: :mod:`argparse` printed it on stderr, or dropped the error, and exited 0."""

    def print_help(self, file: IO[str] | None = None) -> None:
        if file is None:
            check_standard_output(
                f"the help of {self.prog} has nowhere to go: run it with standard output open, or "
                "redirected to a file"
            )
            file = sys.stdout
        try:
            file.write(self.format_help())
            file.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise DHAGError(f"cannot write the help to standard output: {exc.strerror or exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dhag`` command."""
    parser = _Parser(
        prog="dhag",
        description="DHAG anomaly detector for tabular data.",
        epilog="exit status: 0 done; 1 an unexpected failure (a traceback follows); 2 bad input, settings, "
        "options or model file, or out of memory reading, training, saving the model, loading the model, "
        "scoring or writing the scores (one line on stderr says "
        "which); 130 interrupted; 143 stopped by SIGTERM, 129 by SIGHUP (the file being written left as it "
        "was); 141 the reader of the output went away (dhag score ... | head).",
    )
    _add_own_options(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)

    train = add_train_parser(sub)
    train.set_defaults(func=_cmd_train)

    score = sub.add_parser("score", help="score rows; writes CSV with score and anomaly columns")
    score.add_argument("--model", required=True, type=model_path, help="the model file")
    score.add_argument("--data", required=True, type=given_path, help="the rows: CSV, Parquet or NPZ")
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
    score.set_defaults(func=cmd_score)

    info = sub.add_parser("info", help="describe a model artifact")
    info.add_argument("model", type=model_path, help="the model file (a .dhag written by dhag train)")
    info.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    info.set_defaults(func=cmd_info)

    sign = sub.add_parser(
        "sign", help=f"sign a model with the key in {KEY_VARIABLE} (models written before it was set)"
    )
    sign.add_argument(
        "model", type=model_path, nargs="+", help="one or more models (e.g. a registry's *.dhag)"
    )
    sign.add_argument(
        "--out",
        type=out_file("model.dhag"),
        help="where to write the signed model (one model only; default: in place)",
    )
    sign.set_defaults(func=_cmd_sign)

    add_bench_parser(sub)
    for command in sub.choices.values():  # `dhag train ... -v` as `dhag -v train ...`
        _add_own_options(command, default=argparse.SUPPRESS)
    return parser


def _add_own_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Add the options of ``dhag`` itself to ``parser``: to the command's (with ``default`` SUPPRESS: one
    left out after the command keeps what was given before it)."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="log at INFO level")
