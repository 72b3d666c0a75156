"""The rows a fit of :class:`~dhag.estimator.DHAG` learns from: which are known anomalies, and which
normal rows it holds out to calibrate its threshold.

``validation_split``: ``"random"`` (a random slice), or for rows in time order ``"blocks"`` (whole
stretches spread over the history) or ``"last"`` (the latest rows). A random slice of a slowly varying
history sits among its neighbours, so the rate it calibrates looks lower than new data will give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dhag.columns import _is_frame, _preview, as_columns, is_missing
from dhag.exceptions import InputError
from dhag.hostarray import host_array
from dhag.preprocessing import Preprocessor, _refuse_undeclared_categories

__all__ = ["FitRows", "fit_rows", "held_out_blocks", "known_anomaly_mask", "validation_order"]


def known_anomaly_mask(y: object, n_rows: int) -> np.ndarray:
    """The rows ``fit``'s ``y`` marks as known anomalies (1); ``None`` marks none. Refuses a ``y`` of
    the wrong length or with values other than 0 and 1.

    >>> known_anomaly_mask([0, 1, 0], 3).tolist(), int(known_anomaly_mask(None, 2).sum())
    ([False, True, False], 0)
    """
    if y is None:
        return np.zeros(n_rows, dtype=bool)
    labels = np.asarray(host_array(y))
    if labels.shape != (n_rows,):
        column = (
            ": one column, where y is one value per row: a frame's label column, df['label'] (not "
            "df[['label']]), or an array flattened, y.ravel()"
            if labels.shape == (n_rows, 1)
            else ""
        )
        raise InputError(f"y must have one value per row ({n_rows}). Got shape {labels.shape}{column}.")
    if labels.dtype == object:  # pd.NA (a nullable column's gap) has no truth value to compare
        labels = np.where([is_missing(v) for v in labels.tolist()], np.nan, labels)
    bad = np.flatnonzero(~np.isin(labels, (0, 1)))
    if bad.size and all(_text_label(labels[i]) for i in bad):
        # A label column read as text ("0", "1"): refused as features of text are, saying so.
        raise InputError(
            "y must hold the numbers 0 (normal or unlabelled) and 1 (known anomaly). Its labels are text "
            f"({str(labels[bad[0]])!r} at row {int(bad[0])}), and text is not taken for numbers: convert "
            "them, np.asarray(y, dtype=float)."
        )
    if bad.size:
        first = labels[bad[0]]
        first = first.item() if isinstance(first, np.generic) else first
        shown = "a missing value" if is_missing(first) else repr(first)
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        sklearn = (
            "; scikit-learn's -1/1 outlier labels are not this y: 1 marks a known anomaly here"
            if first == -1
            else ""
        )
        raise InputError(
            "y must hold only 0 (normal or unlabelled) and 1 (known anomaly). "
            f"Got {shown} at row {int(bad[0])}{more}{sklearn}."
        )
    return labels.astype(int) == 1


def _refuse_labels_indexed_apart(X: Any, y: Any) -> None:
    """Refuse a pandas ``y`` (a Series, a one-column frame) whose index is not the frame ``X``'s: ``y`` is
    read by position, as scikit-learn reads it, so a ``y`` sorted or shuffled apart from ``X`` (whose
    index says which row each label is of) would mark other rows than it names as known anomalies."""
    index, rows = getattr(y, "index", None), getattr(X, "index", None)
    if not (_is_frame(X) and hasattr(index, "equals") and hasattr(rows, "equals")):
        return  # a list's index is a method, not row labels
    if len(index) != len(rows) or index.equals(rows):
        return  # of another length, y is refused as such
    row, (mine, theirs) = next((i, p) for i, p in enumerate(zip(rows, index, strict=True)) if p[0] != p[1])
    raise InputError(
        f"y is a pandas {type(y).__name__} whose index is not X's (X's row {row} is {mine!r}, y's "
        f"{theirs!r}): y is read by position, so its labels would mark other rows than they name. "
        "y.loc[X.index] puts y in X's row order; y.to_numpy() takes it by position, as it stands."
    )


def _text_label(value: object) -> bool:
    """Whether ``value`` is 0 or 1 written as text (``"1"``, ``"0.0"``)."""
    if not isinstance(value, str):
        return False
    try:
        return float(value) in (0.0, 1.0)
    except ValueError:
        return False


def held_out_blocks(n_rows: int, fraction: float, n_blocks: int = 50) -> np.ndarray:
    """Mask of the rows ``validation_split="blocks"`` holds out: of ``n_blocks`` equal contiguous
    stretches of rows in time order, every k-th, k = round(1 / ``fraction``). Unseen stretches spread
    over the whole history (every part of a daily cycle), not rows whose neighbours trained. A small
    ``fraction`` cuts more stretches (at least five per held-out one), so some are always held out.

    Example
    -------
    >>> mask = held_out_blocks(1000, 0.1)
    >>> int(mask.sum()), np.flatnonzero(mask)[:3].tolist(), np.flatnonzero(mask)[-1].item()
    (100, [180, 181, 182], 999)
    >>> int(held_out_blocks(10_000, 0.01).sum())
    100
    """
    every = max(2, int(round(1 / fraction)))
    n_blocks = max(n_blocks, 5 * every)
    block = np.arange(n_rows) * n_blocks // max(n_rows, 1)
    return block % every == every - 1


def validation_order(
    n_rows: int, fraction: float, split: str, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``(order, n_val)``: row indices with the ``n_val`` held-out rows first, the training rows after
    them in random order. No rows are held out when fewer than two would be left to train on.

    Example
    -------
    >>> order, n_val = validation_order(10, 0.2, "last", np.random.default_rng(0))
    >>> n_val, order[:n_val].tolist(), sorted(order[n_val:].tolist()) == list(range(8))
    (2, [8, 9], True)
    """
    n_val = int(round(fraction * n_rows))
    n_val = n_val if n_rows - n_val >= 2 else 0
    order = rng.permutation(n_rows)
    if split == "last":
        # The latest stretch: data from after everything trained on, as the daemon will meet it.
        n_fit = n_rows - n_val
        order = np.concatenate([np.arange(n_fit, n_rows), rng.permutation(n_fit)])
    elif split == "blocks" and n_val:
        held = held_out_blocks(n_rows, fraction)
        order = np.concatenate([np.flatnonzero(held), rng.permutation(np.flatnonzero(~held))])
        n_val = int(held.sum())
    return order, n_val


@dataclass(frozen=True)
class FitRows:
    """A fit's rows, preprocessed: float32 matrices with one column per output of ``preprocessor``."""

    preprocessor: Preprocessor  # fitted on the normal rows only
    n_rows: int  # every row of X
    matrix: np.ndarray  # every row of X, in X's order
    normal: np.ndarray  # the normal rows, in X's order
    known: np.ndarray  # the rows y marks as known anomalies (maybe none)
    train: np.ndarray  # the normal rows the networks train on
    validation: np.ndarray  # the normal rows held out of training (maybe none)
    known_mask: np.ndarray  # per row of X: whether it is a known anomaly
    order: np.ndarray  # positions in ``normal`` of the validation rows, then of the training rows

    @property
    def calibration(self) -> np.ndarray:
        """The rows the threshold is calibrated on: the held-out ones, the training ones when none are."""
        return self.validation if len(self.validation) else self.train

    def split_scores(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of values for every row of X (``scores``, in X's order, as of ``matrix``), those of the
        ``train`` rows and of the ``validation`` rows, in those matrices' order.

        >>> X = np.arange(10.0).reshape(5, 2)
        >>> rows = fit_rows(X, [0, 1, 0, 0, 0], feature_names=None, categorical=(), passthrough=(),
        ...                 fraction=0.25, split="last", rng=np.random.default_rng(0))
        >>> train, validation = rows.split_scores(rows.matrix[:, 0])
        >>> bool((train == rows.train[:, 0]).all()), bool((validation == rows.validation[:, 0]).all())
        (True, True)
        """
        normal_rows = np.flatnonzero(~self.known_mask)[self.order]
        n_val = len(self.validation)
        return scores[normal_rows[n_val:]], scores[normal_rows[:n_val]]

    def numeric_columns(self) -> list[int]:
        """The matrix column of each z-scored feature (neither categorical nor passed through)."""
        pre = self.preprocessor
        return [
            sl.start
            for name, sl in pre.feature_slices()
            if name not in pre.categorical and name not in pre.passthrough
        ]


def fit_rows(
    X: Any,
    y: Any,
    *,
    feature_names: Sequence[str] | None,
    categorical: Sequence[str],
    passthrough: Sequence[str],
    fraction: float,
    split: str,
    rng: np.random.Generator,
    allow_many_categories: bool = False,
) -> FitRows:
    """``fit``'s ``X`` and ``y`` checked, preprocessed and split (``split`` and ``fraction``: the
    estimator's ``validation_split`` and ``validation_fraction``; see :func:`validation_order`;
    ``allow_many_categories``: :class:`~dhag.preprocessing.Preprocessor`'s).
    Refuses input with no feature or fewer than two normal rows.

    Example
    -------
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> rows = fit_rows(X, [1] + [0] * 19, feature_names=None, categorical=(), passthrough=(),
    ...                 fraction=0.1, split="last", rng=np.random.default_rng(0))
    >>> len(rows.known), len(rows.train), rows.validation.shape, rows.numeric_columns()
    (1, 17, (2, 2), [0, 1])
    """
    names, cols = as_columns(X, feature_names)
    # The preprocessor is fitted on the normal rows' columns, no frame: the frame's dtypes are read here.
    _refuse_undeclared_categories(X, [str(c) for c in categorical])
    if feature_names is not None and set(map(str, feature_names)) != set(names):
        # A frame, a mapping or a structured array names its own columns; feature_names names an array's.
        raise InputError(
            f"feature_names {_preview(feature_names)} are not the input's columns {_preview(names)}; "
            "named input is read by its own names (leave feature_names unset, or rename the columns)."
        )
    if not names:
        raise InputError("Need at least 1 feature (column) to train. Got 0.")
    n_rows = len(cols[names[0]])
    _refuse_labels_indexed_apart(X, y)
    known_mask = known_anomaly_mask(y, n_rows)
    if (normals := int((~known_mask).sum())) < 2:
        known = (
            f": y marks {n_rows - normals} of the {n_rows} rows as known anomalies (1)"
            if normals < n_rows
            else ""
        )
        raise InputError(f"Need at least 2 normal rows to train. Got {normals}{known}.")
    # Statistics come from the normal rows only: known anomalies must not shift the z-scores.
    pre = Preprocessor(
        categorical=categorical, passthrough=passthrough, allow_many_categories=allow_many_categories
    )
    pre.fit({n: cols[n][~known_mask] for n in names})
    matrix = pre.transform(cols)
    normal = matrix[~known_mask]
    order, n_val = validation_order(normal.shape[0], fraction, split, rng)
    return FitRows(
        preprocessor=pre,
        n_rows=int(n_rows),
        matrix=matrix,
        normal=normal,
        known=matrix[known_mask],
        train=normal[order[n_val:]],
        validation=normal[order[:n_val]],
        known_mask=known_mask,
        order=order,
    )
