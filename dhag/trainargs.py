"""The options of ``dhag train``: what to read, what to write, and how to train."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dhag.columnlist import COLUMN_LIST_HELP, column_list
from dhag.estimator import DHAG
from dhag.exceptions import ParameterError
from dhag.labelvalues import LabelValues
from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES
from dhag.outpath import given_path, out_file
from dhag.params import resolve_device, validate_params

__all__ = ["MAX_MEMBERS", "add_train_parser", "label_values", "named_as_option", "untrained_model"]

# The most networks `dhag train --members` trains. Each member is a whole training, and the mean of N
# members keeps about 1/sqrt(N) of one network's seed-to-seed spread: 5 members 45% of it, 20 members
# 22%, and each member past 20 takes less than a hundredth of it more off. A larger count is more likely
# a slip (500 for 5) than a choice, and would train for hours; the library's n_members takes any.
MAX_MEMBERS = 20

# The option of `dhag train` (or `dhag score`, for the device) that gives each setting of DHAG.
_OPTIONS = {
    "max_epochs": "--max-epochs",
    "batch_size": "--batch-size",
    "time_budget": "--time-budget",
    "device": "--device",
    "random_state": "--seed",
    "n_members": "--members",
    "snapshots": "--snapshots",
    "target_far": "--target-far",
    "contamination": "--contamination",
}


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` to the ``dhag`` command's subparsers and return its parser."""
    train = subparsers.add_parser("train", help="train a model on normal rows (CSV, Parquet or NPZ)")
    train.add_argument("--data", required=True, type=given_path, help="the rows: CSV, Parquet or NPZ")
    train.add_argument(
        "--out",
        required=True,
        type=out_file("model.dhag"),
        help="the model file to write (missing folders are made)",
    )
    train.add_argument(
        "--label-column",
        help="column with 1 = known anomaly, 0 = normal (or text, read by --anomaly-value or --normal-value)",
    )
    values = train.add_mutually_exclusive_group()
    values.add_argument(
        "--anomaly-value",
        action="append",
        metavar="VALUE",
        help="a value of --label-column that marks a known anomaly, every other value normal (repeatable; "
        "compared exactly as written, case and spaces included)",
    )
    values.add_argument(
        "--normal-value",
        action="append",
        metavar="VALUE",
        help="a value of --label-column that marks a normal row, every other value a known anomaly "
        "(repeatable; compared exactly as written, case and spaces included)",
    )
    train.add_argument(
        "--categorical", type=column_list, help=f"columns to one-hot encode; {COLUMN_LIST_HELP}"
    )
    train.add_argument(
        "--allow-many-categories",
        action="store_true",
        help="keep a --categorical column with over 100 categories that outnumber half the rows (refused "
        "by default as one that identifies rows)",
    )
    train.add_argument(
        "--passthrough", type=column_list, help=f"columns to keep unscaled; {COLUMN_LIST_HELP}"
    )
    train.add_argument(
        "--id-columns",
        type=column_list,
        help=f"columns that identify rows (read as text, not trained on); {COLUMN_LIST_HELP}",
    )
    train.add_argument("--max-epochs", type=int, default=100, help="training epochs at most (default 100)")
    train.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="rows per training update (default 256; fewer take less memory)",
    )
    train.add_argument(
        "--time-budget",
        type=float,
        help="seconds for training and for scoring the rows for the threshold, for which training leaves "
        "room (reading the file, preparing its rows and writing the model come outside them)",
    )
    train.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default auto)"
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--members",
        type=int,
        default=1,
        metavar="N",
        help=f"train N networks from their own seeds and score with their mean, each a whole training "
        f"(1 to {MAX_MEMBERS}; default 1)",
    )
    train.add_argument(
        "--snapshots",
        type=int,
        default=1,
        metavar="N",
        help="keep N end-of-epoch states over the second half of training and score with their mean "
        "(default 1: the last epoch's weights)",
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
    train.add_argument("--target-far", type=float, help="false-alarm rate of the threshold (default 0.01)")
    train.add_argument(
        "--contamination", type=float, help="expected anomaly ratio instead of --target-far (not with it)"
    )
    train.add_argument(
        "--validation-split",
        choices=("random", "blocks", "last"),
        default="random",
        help="rows the threshold is calibrated on: a random slice; for data in time order, stretches "
        "spread over it (blocks) or the last rows (default random)",
    )
    train.add_argument(
        "--quiet",
        action="store_true",
        help="no progress: no bar on a terminal, and none of the plain lines written instead into a log "
        "file or a pipe (one when training begins, then one a minute)",
    )
    return train


def named_as_option(exc: ParameterError, args: argparse.Namespace) -> ParameterError:
    """``exc``, a setting of DHAG refused, said of the command-line option that gave it and the value
    typed there (``--seed must be an int in [0, 4294967295]. Got -1.``): the user wrote no
    ``random_state``. An option left out is None, so "None or" is no value to offer. ``exc`` itself
    when no option gives that setting.

    >>> refused = ParameterError("...", setting="n_members", allowed="an int >= 1")
    >>> str(named_as_option(refused, argparse.Namespace(members=0)))
    '--members must be an int >= 1. Got 0.'
    """
    option = _OPTIONS.get(exc.setting or "")
    if option is None or exc.allowed is None:
        return exc
    given = getattr(args, option[2:].replace("-", "_"))
    allowed = exc.allowed.removeprefix("None or ")
    return ParameterError(f"{option} must be {allowed}. Got {given!r}.", setting=exc.setting, allowed=allowed)


def untrained_model(args: argparse.Namespace, *, categorical: list[str], passthrough: list[str]) -> DHAG:
    """The model ``dhag train`` fits, its settings from the options; one out of range is refused now,
    before the data is read, naming its option (:func:`named_as_option`)."""
    if args.target_far is not None and args.contamination is not None:
        # One of them sets the threshold: the other would be taken and do nothing.
        raise ParameterError(
            f"--target-far {args.target_far} and --contamination {args.contamination} each set the "
            "threshold (a false-alarm rate on held-out normal rows, or a share of the training rows "
            "flagged): give one of them."
        )
    if not 1 <= args.members <= MAX_MEMBERS:
        raise ParameterError(
            f"--members must be an int in [1, {MAX_MEMBERS}] (each member is a whole training). Got "
            f"{args.members}.",
            setting="n_members",
            allowed=f"an int in [1, {MAX_MEMBERS}]",
        )
    model = DHAG(
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        time_budget=args.time_budget,
        device=args.device,
        random_state=args.seed,
        n_members=args.members,
        snapshots=args.snapshots,
        recipe=args.recipe,
        ce_weighting=args.ce_weighting,
        target_far=args.target_far,
        validation_split=args.validation_split,
        contamination=args.contamination,
        categorical=categorical,
        allow_many_categories=args.allow_many_categories,
        passthrough=passthrough,
        # A log keeps every redraw of the bar, each meant to replace the last on a terminal.
        progress=not args.quiet and sys.stderr is not None and sys.stderr.isatty(),
    )
    try:
        validate_params(model)
        resolve_device(model.device)
    except ParameterError as exc:
        raise named_as_option(exc, args) from None
    return model


def label_values(args: argparse.Namespace) -> LabelValues | None:
    """The values of the label column ``--anomaly-value`` or ``--normal-value`` give, None without
    them; either without ``--label-column`` is refused, having no column to read."""
    if not (args.anomaly_value or args.normal_value):
        return None
    values = LabelValues(anomaly=tuple(args.anomaly_value or ()), normal=tuple(args.normal_value or ()))
    if args.label_column is None:
        raise ParameterError(
            f"{values.option} names a value of the label column, and no --label-column is given: name the "
            "column that holds the labels."
        )
    return values
