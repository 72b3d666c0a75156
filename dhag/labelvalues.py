"""The label column of a training file as the labels of its rows: 1 a known anomaly, 0 a normal row.

A column of 0 and 1 is read as it is. A column of text (``normal``/``attack``, KDD Cup's ``normal.``
beside a score of attack names, ``yes``/``no``) is read through the values ``dhag train`` is given: its
``--anomaly-value`` options name the values of known anomalies (every other value normal), its
``--normal-value`` options those of normal rows (every other value a known anomaly). Values are compared
as the file writes them, case and spaces included: a value the column never holds is refused naming
those it does hold, since a misspelt one would train with no known anomaly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dhag.exceptions import InputError
from dhag.infotext import suggested_option
from dhag.namehints import near_names

__all__ = ["LabelValues", "labels_of"]

# The most classes a column of numbers other than 0 and 1 is taken to code (0 normal), as a data set that
# numbers its kinds of attack or fault does.
_CODES = 20
# How a file most often writes the class of a normal row (lower case, without punctuation): the one such
# value of a text column is offered for --normal-value.
_NORMAL_WORDS = frozenset({"normal", "benign", "no", "false", "ok", "good", "nominal", "inlier", "negative"})


@dataclass(frozen=True)
class LabelValues:
    """Which values of a label column mark its rows' class: ``anomaly``, those of known anomalies (every
    other value normal), or ``normal``, those of normal rows (every other value a known anomaly).

    >>> LabelValues(anomaly=("attack",)).metadata()
    {'anomaly_values': ['attack']}
    """

    anomaly: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """The option of ``dhag train`` that gave the values."""
        return "--anomaly-value" if self.anomaly else "--normal-value"

    def marking(self) -> str:
        """Which values mark known anomalies, in words.

        >>> LabelValues(normal=("normal.",)).marking()
        "every value but --normal-value 'normal.'"
        """
        given = ", ".join(map(repr, self.anomaly or self.normal))
        return f"--anomaly-value {given}" if self.anomaly else f"every value but --normal-value {given}"

    def metadata(self) -> dict[str, list[str]]:
        """What the model's metadata keeps of them, beside its ``label_column``."""
        if self.anomaly:
            return {"anomaly_values": list(self.anomaly)}
        return {"normal_values": list(self.normal)}


def labels_of(raw: pd.Series, column: str, values: LabelValues | None = None) -> np.ndarray:
    """The labels (1 a known anomaly, 0 normal) of the label column ``raw``, named ``column``: its 0 and
    1 (text ``"0"``/``"1"`` too) without ``values``, else the rows whose value (as text) is one of
    ``values.anomaly``, or is none of ``values.normal``, are 1. A row without a label is refused, as are,
    without ``values``, other values than 0 and 1 (a column of text naming the values it holds and the
    options that read them).

    >>> raw = pd.Series(["normal", "attack", "normal"])
    >>> labels_of(raw, "lab", LabelValues(anomaly=("attack",))).tolist()
    [0, 1, 0]
    >>> labels_of(pd.Series([0, 1, 1]), "lab").tolist()
    [0, 1, 1]
    """
    if isinstance(raw.dtype, pd.CategoricalDtype):  # a Parquet file's: its values, not every category
        raw = raw.astype(object)
    if values is None:
        return _zeros_and_ones(raw, column)
    missing = np.flatnonzero(raw.isna().to_numpy())
    if missing.size:
        raise InputError(
            f"Label column {column!r} must hold a label in every row. Got no label (row {int(missing[0])}"
            f"{f', and {missing.size - 1} more' if missing.size > 1 else ''}).",
            cell=(column, int(missing[0])),
        )
    text = raw.map(_text)
    given = values.anomaly or values.normal
    if unknown := list(dict.fromkeys(v for v in given if not (text == v).any())):
        held = text.value_counts().index.tolist()
        near = _near(unknown, held)
        names = ", ".join(map(repr, unknown))
        raise InputError(
            f"{values.option} {names} {'is not a value' if len(unknown) == 1 else 'are not values'} of "
            f"label column {column!r}, which holds {_held(raw)}{f'; {near}' if near else ''}. Values are "
            "compared exactly as written, case and spaces included."
        )
    chosen = text.isin(given).to_numpy()
    return (chosen if values.anomaly else ~chosen).astype(np.int64)


def _zeros_and_ones(raw: pd.Series, column: str) -> np.ndarray:
    # One word in a column makes every value of it text: "0" is still the label 0.
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(~numbers.isin([0, 1]).to_numpy())
    if not bad.size:
        return numbers.to_numpy().astype(np.int64)
    words = numbers.isna() & raw.notna()
    if words.any() and not numbers.isin([0, 1]).any():  # text, and no 0 or 1 a slip beside it
        raise InputError(
            f"Label column {column!r} holds text, not 0 and 1: {_held(raw)}. {_how_to_read(raw[words])}"
        )
    first = raw.iloc[bad[0]]
    # pandas reads an empty cell, or NA, as NaN: the row's note says which it was.
    value = first.item() if isinstance(first, np.generic) else first
    shown = "no label" if pd.isna(value) else repr(value)
    # -1 and 1 as scikit-learn's outlier detectors label rows: -1 an outlier, 1 an inlier.
    if numbers.isin([-1, 1]).all():
        sklearn = (
            " -1 and 1 are scikit-learn's outlier labels (-1 an outlier), not these: write 1 for a known "
            f"anomaly and 0 for every other row, or train with {suggested_option('--anomaly-value', '-1')}."
        )
    elif numbers.notna().all() and numbers.isin([0]).any() and numbers.nunique() <= _CODES:
        # Classes as numbers (0 normal, one code per kind of fault): read as text is.
        sklearn = (
            f" It holds {_held(raw)}: {suggested_option('--normal-value', '0')} takes every other value for "
            "a known anomaly, or --anomaly-value VALUE names those that are."
        )
    else:
        sklearn = ""
    raise InputError(
        f"Label column {column!r} must hold only 0 and 1. Got {shown} (row {int(bad[0])}"
        f"{f', and {bad.size - 1} more' if bad.size > 1 else ''}).{sklearn}",
        cell=(column, int(bad[0])),
    )


def _text(value: Any) -> str:
    """A label as text: as written in a CSV; a number of a Parquet or NPZ column as Python writes it,
    an integral float as the int (``1.0`` is the class ``1``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _held(raw: pd.Series, limit: int = 5) -> str:
    """The values of ``raw`` with their counts, the most frequent first (``limit`` of them), and the
    rows without a label: ``'normal' (570 rows), 'attack' (30 rows)``."""
    counts = raw.dropna().map(_text).value_counts()
    said = [f"{value!r} ({_rows(int(n))})" for value, n in counts.iloc[:limit].items()]
    if len(counts) > limit:
        said.append(f"{len(counts) - limit} other values ({_rows(int(counts.iloc[limit:].sum()))})")
    if none := int(raw.isna().sum()):
        said.append(f"no label ({_rows(none)})")
    return ", ".join(said)


def _rows(n: int) -> str:
    return f"{n:,} row{'' if n == 1 else 's'}"


def _how_to_read(words: pd.Series) -> str:
    """How to train on a column of text ``words``: the options, with a value of it where one stands out
    (one that reads as normal, or the rarer of two values)."""
    counts = words.map(_text).value_counts()
    normal = [v for v in counts.index if re.sub(r"[^a-z]", "", v.lower()) in _NORMAL_WORDS]
    anomaly = "--anomaly-value VALUE (every other value then normal)"
    normal_ = "--normal-value VALUE (every other value a known anomaly)"
    if len(normal) == 1:
        said = (
            f"Train with {suggested_option('--normal-value', normal[0])} to take every other value for a "
            f"known anomaly, or name the values of known anomalies with {anomaly}"
        )
    elif len(counts) == 2:
        said = (
            f"Train with {suggested_option('--anomaly-value', counts.index[-1])} to take every other value "
            f"for normal, or name the values of normal rows with {normal_}"
        )
    else:
        said = f"Name the values of known anomalies with {anomaly}, or those of normal rows with {normal_}"
    return f"{said}; each may be given more than once, and values are compared exactly as written."


def _near(unknown: Sequence[str], held: Sequence[Any]) -> str:
    """What each value in ``unknown`` is near among ``held``: the same but for case or spaces, or a
    close spelling."""
    said = []
    for value in unknown:
        close = difflib.get_close_matches(value, held, n=1, cutoff=0.75)
        near = near_names([value], held) or (f"{value!r} is near {close[0]!r}" if close else "")
        said += [near] if near else []
    return ", ".join(said)
