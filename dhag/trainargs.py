"""The options of ``dhag train``: what to read, what to write, and how to train."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dhag.losses import CE_WEIGHTINGS
from dhag.modules import RECIPES

__all__ = ["add_train_parser"]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` to the ``dhag`` command's subparsers and return its parser."""
    train = subparsers.add_parser("train", help="train a model on normal rows (CSV, Parquet or NPZ)")
    train.add_argument("--data", required=True, type=Path, help="the rows: CSV, Parquet or NPZ")
    train.add_argument(
        "--out", required=True, type=Path, help="the model file to write (missing folders are made)"
    )
    train.add_argument("--label-column", help="column with 1 = known anomaly, 0 = normal")
    train.add_argument("--categorical", help="comma-separated columns to one-hot encode")
    train.add_argument(
        "--allow-many-categories",
        action="store_true",
        help="keep a --categorical column with over 100 categories that outnumber half the rows (refused "
        "by default as one that identifies rows)",
    )
    train.add_argument("--passthrough", help="comma-separated columns to keep unscaled")
    train.add_argument(
        "--id-columns", help="comma-separated columns that identify rows (read as text, not trained on)"
    )
    train.add_argument("--max-epochs", type=int, default=100, help="training epochs at most (default 100)")
    train.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="rows per training update (default 256; fewer take less memory)",
    )
    train.add_argument("--time-budget", type=float, help="stop training after this many seconds")
    train.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default auto)"
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--members",
        type=int,
        default=1,
        help="train N networks from their own seeds and score with their mean (default 1)",
    )
    train.add_argument(
        "--snapshots",
        type=int,
        default=1,
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
    train.add_argument(
        "--target-far", type=float, default=0.01, help="false-alarm rate of the threshold (default 0.01)"
    )
    train.add_argument("--contamination", type=float, help="expected anomaly ratio instead of --target-far")
    train.add_argument(
        "--validation-split",
        choices=("random", "blocks", "last"),
        default="random",
        help="rows the threshold is calibrated on: a random slice; for data in time order, stretches "
        "spread over it (blocks) or the last rows (default random)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    return train
