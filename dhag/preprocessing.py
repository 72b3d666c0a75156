"""Fitted preprocessing saved with the model: named features, z-scores, one-hot categories."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dhag.arrowtables import arrow_as_frame
from dhag.categorymatch import one_hot
from dhag.columns import (
    _category_strings,
    _is_frame,
    _numeric,
    _preview,
    as_columns,
    is_missing,
    names_setting_problem,
)
from dhag.exceptions import InputError, NotFittedError, ParameterError
from dhag.flagcolumns import refuse_flags_for_numbers
from dhag.infotext import counted, suggested_option
from dhag.namehints import names_mismatch, not_columns

__all__ = ["Preprocessor", "as_columns", "is_missing"]

logger = logging.getLogger(__name__)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT64_MAX = float(np.finfo(np.float64).max)
# Below this many categories a categorical is kept however few rows each has (a small table of modes).
_FEW_CATEGORIES = 100


class Preprocessor:
    """Standardise numeric features with training statistics and one-hot declared categoricals.

    Numeric columns become ``(x - mean) / std`` (a constant column gets std 1); ``passthrough``
    columns are kept as they are (already-encoded 0/1 columns, say); ``categorical`` columns become
    one 0/1 column per category seen in training (an unseen category scores as all zeros). A
    categorical with over 100 categories that outnumber half the rows is refused as a column that
    identifies rows, unless ``allow_many_categories`` says its categories are real ones.
    ``ranges_`` keeps each numeric feature's training minimum and maximum (empty for an artifact
    written before it was kept), so that a caller can say when a value lies beyond what training saw.

    Example
    -------
    >>> import numpy as np
    >>> pre = Preprocessor().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> pre.transform(np.array([[2.0, 5.0]])).tolist()
    [[0.0, 0.0]]
    >>> pre.output_names_
    ['x0', 'x1']
    """

    def __init__(
        self,
        *,
        categorical: Sequence[str] = (),
        passthrough: Sequence[str] = (),
        feature_names: Sequence[str] | None = None,
        allow_many_categories: bool = False,
    ) -> None:
        for label, given in (
            ("categorical", categorical),
            ("passthrough", passthrough),
            ("feature_names", feature_names),
        ):
            if problem := names_setting_problem(label, given, none_ok=label == "feature_names"):
                raise ParameterError(f"{label!r} must be {problem}. Got {given!r} instead.")
        # Column names are read as text (a frame's integer column 1 is feature "1"): so are these.
        self.categorical = tuple(str(c) for c in categorical)
        self.passthrough = tuple(str(c) for c in passthrough)
        self.feature_names = None if feature_names is None else tuple(feature_names)
        self.allow_many_categories = allow_many_categories

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X: Any) -> Preprocessor:
        """Learn names, statistics and categories from training data ``X``; returns self."""
        overlap = set(self.categorical) & set(self.passthrough)
        if overlap:
            raise ParameterError(
                f"A feature cannot be both categorical and passthrough. Got {_preview(sorted(overlap))}."
            )
        names, cols = as_columns(X, self.feature_names)
        _refuse_undeclared_categories(X, self.categorical)
        n_rows = len(next(iter(cols.values()))) if cols else 0
        if not names or n_rows == 0:
            raise InputError("Cannot fit on an empty table.")
        for group, label in ((self.categorical, "categorical"), (self.passthrough, "passthrough")):
            unknown = [c for c in group if c not in cols]
            if unknown:
                raise ParameterError(not_columns(f"The {label!r} setting names", unknown, names))
        means: dict[str, float] = {}
        scales: dict[str, float] = {}
        ranges: dict[str, list[float]] = {}
        categories: dict[str, list[str]] = {}
        frequencies: dict[str, list[float]] = {}
        for name in names:
            if name in self.categorical:
                values = _category_strings(name, cols[name])
                cats, counts = np.unique(values.astype(str), return_counts=True)
                if not self.allow_many_categories:
                    _refuse_identifier(name, len(cats), n_rows)
                categories[name] = [str(c) for c in cats]
                frequencies[name] = (counts / counts.sum()).tolist()
                continue
            col = _numeric(name, cols[name], fitting=True)
            with np.errstate(over="ignore", invalid="ignore"):
                means[name], std = float(col.mean()), float(col.std())
            ranges[name] = [float(col.min()), float(col.max())]
            if not (np.isfinite(means[name]) and np.isfinite(std)):
                raise InputError(
                    f"Feature {name!r} holds values too large to standardise (up to "
                    f"{np.abs(col).max():.3g}): its mean or spread overflows; rescale it"
                )
            scales[name] = 1.0 if name in self.passthrough or np.ptp(col) == 0 or std == 0 else std
        _refuse_shared_output_names(names, categories)
        self.feature_names_in_ = names
        self.means_ = means
        self.scales_ = scales
        self.ranges_ = ranges
        self.categories_ = categories
        self.category_frequencies_ = frequencies
        self.output_names_ = self._output_names()
        return self

    def _output_names(self) -> list[str]:
        return [out for _, out in _named_outputs(self.feature_names_in_, self.categories_)]

    # -- transforming ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_in_"):
            raise NotFittedError("This Preprocessor is not fitted yet. Call 'fit' first.")

    def check_names(
        self, names: Sequence[str], index: Sequence[Any] = (), *, array_hint: bool = True
    ) -> None:
        """Raise :class:`InputError` unless ``names`` are exactly the training features; a missing one
        among ``index`` (the names of a frame's index) is said to be the index
        (:func:`~dhag.namehints.names_mismatch`, which ``array_hint`` is passed to)."""
        self._check_fitted()
        expected = self.feature_names_in_
        if list(names) == list(expected):
            return
        if mismatch := names_mismatch(expected, names, index, array_hint=array_hint):
            raise InputError(mismatch)

    def transform(self, X: Any) -> np.ndarray:
        """Return the model-ready float32 matrix (rows x ``len(output_names_)``)."""
        self._check_fitted()
        names, cols = as_columns(X, None if _is_frame(X) else self.feature_names_in_, model_names=True)
        self.check_names(names, list(X.index.names) if _is_frame(X) and hasattr(X, "index") else ())
        n_rows = len(cols[names[0]])
        out = np.empty((n_rows, len(self.output_names_)), dtype=np.float32)
        j = 0
        for name in self.feature_names_in_:
            if name in self.categories_:
                values = _category_strings(name, cols[name])
                cats = self.categories_[name]
                out[:, j : j + len(cats)] = one_hot(values, cats)
                self._warn_unseen(name, values[~out[:, j : j + len(cats)].any(axis=1)])
                j += len(cats)
            else:
                refuse_flags_for_numbers(name, cols[name], self.ranges_.get(name))
                col = _numeric(name, cols[name])
                if name not in self.passthrough:
                    col = (col - self.means_[name]) / self.scales_[name]
                beyond = np.abs(col) > _FLOAT32_MAX  # the network computes in float32
                if beyond.any():
                    row = int(np.argmax(beyond))
                    raise InputError(
                        f"Feature {name!r} has {int(beyond.sum())} value(s) too large for the model to score "
                        f"(first at row {row}: beyond float32 once standardised).",
                        cell=(name, row),
                    )
                out[:, j] = col
                j += 1
        return out

    def _warn_unseen(self, name: str, unseen: np.ndarray) -> None:
        """Say once per feature (per loaded model) that rows carry a category training never saw: such
        a row is scored as in no known category, which an operator should know about, not guess."""
        warned = self.__dict__.setdefault("_unseen_warned", set())
        if unseen.size and name not in warned:
            warned.add(name)
            logger.warning(
                "Categorical feature %r: %s with a category not seen in training (first %r); "
                "%s scored as in no known category (said once per feature)",
                name,
                counted(unseen.size, "row"),
                unseen[0],
                "it is" if unseen.size == 1 else "they are",
            )

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def baseline(self) -> np.ndarray:
        """The transformed "typical row": training means, and category frequencies for one-hots."""
        self._check_fitted()
        out = []
        for name in self.feature_names_in_:
            if name in self.categories_:
                out.extend(self.category_frequencies_[name])
            elif name in self.passthrough:
                out.append(self.means_[name])
            else:
                out.append(0.0)
        return np.asarray(out, dtype=np.float32)

    def feature_slices(self) -> list[tuple[str, slice]]:
        """For each input feature, the slice of output columns it becomes."""
        self._check_fitted()
        slices, j = [], 0
        for name in self.feature_names_in_:
            width = len(self.categories_[name]) if name in self.categories_ else 1
            slices.append((name, slice(j, j + width)))
            j += width
        return slices

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted state."""
        self._check_fitted()
        return {
            "feature_names": list(self.feature_names_in_),
            "categorical": list(self.categorical),
            "passthrough": list(self.passthrough),
            "means": self.means_,
            "scales": self.scales_,
            "ranges": self.ranges_,
            "categories": self.categories_,
            "category_frequencies": self.category_frequencies_,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Preprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output."""
        try:
            pre = cls(categorical=state["categorical"], passthrough=state["passthrough"])
            pre.feature_names_in_ = [str(n) for n in state["feature_names"]]
            pre.means_ = {str(k): float(v) for k, v in state["means"].items()}
            pre.scales_ = {str(k): float(v) for k, v in state["scales"].items()}
            # Artifacts written before the training range was kept have none: it stays unknown.
            pre.ranges_ = {str(k): [float(lo), float(hi)] for k, (lo, hi) in state.get("ranges", {}).items()}
            pre.categories_ = {str(k): [str(c) for c in v] for k, v in state["categories"].items()}
            pre.category_frequencies_ = {
                str(k): [float(f) for f in v] for k, v in state["category_frequencies"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"Invalid preprocessing state: {exc!r}") from exc
        numeric = [n for n in pre.feature_names_in_ if n not in pre.categories_]
        if sorted(numeric) != sorted(pre.means_) or sorted(numeric) != sorted(pre.scales_):
            raise InputError("Invalid preprocessing state: statistics do not cover the features.")
        if not all(np.isfinite(m) for m in pre.means_.values()):
            raise InputError("Invalid preprocessing state: a mean is not a finite number.")
        if any(s <= 0 or not np.isfinite(s) for s in pre.scales_.values()):
            raise InputError("Invalid preprocessing state: a scale is not a positive finite number.")
        # explain resets a categorical feature to them: one share in [0, 1] per category.
        freqs = pre.category_frequencies_
        if sorted(freqs) != sorted(pre.categories_) or not all(
            len(freqs[n]) == len(cats) and all(0.0 <= f <= 1.0 for f in freqs[n])
            for n, cats in pre.categories_.items()
        ):
            raise InputError(
                "Invalid preprocessing state: the category frequencies are not one share in [0, 1] "
                "per category."
            )
        if pre.ranges_ and (
            sorted(pre.ranges_) != sorted(numeric)
            or not all(np.isfinite(lo) and np.isfinite(hi) and lo <= hi for lo, hi in pre.ranges_.values())
        ):
            raise InputError("Invalid preprocessing state: the training ranges do not fit the features.")
        pre.output_names_ = pre._output_names()
        return pre


def _named_outputs(names: Sequence[str], categories: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(input feature, output feature) for each model column: ``name=category`` for a one-hot one."""
    out: list[tuple[str, str]] = []
    for name in names:
        if name in categories:
            out.extend((name, f"{name}={c}") for c in categories[name])
        else:
            out.append((name, name))
    return out


def _refuse_shared_output_names(names: Sequence[str], categories: Mapping[str, Sequence[str]]) -> None:
    """Refuse two input features that would write an output feature of one name: a column named
    ``site=x`` beside a categorical ``site`` with category ``x``. Renaming one of them here would give
    the model a feature name the user never chose (and the manifest, ``explain`` and the next training
    on the same file another); the user's own rename is one line and keeps every name theirs."""
    source: dict[str, str] = {}
    for name, out in _named_outputs(names, categories):
        first = source.setdefault(out, name)
        if first != name:
            raise InputError(
                f"Features {first!r} and {name!r} both become the model feature {out!r} (a categorical "
                f"feature's category c is the feature 'name=c'); rename one of the two columns."
            )


def _refuse_identifier(name: str, n_categories: int, n_rows: int) -> None:
    """Refuse a categorical feature with more than ``_FEW_CATEGORIES`` categories that outnumber half
    its rows: most are seen once or twice, which the model cannot learn a normal from, each would be an
    input column of its own (20,000 serial numbers: 20,000 columns, minutes an epoch), and a new row's
    value would be a category never seen. Such a column identifies rows."""
    if n_categories > _FEW_CATEGORIES and 2 * n_categories > n_rows:
        raise InputError(
            f"Categorical feature {name!r} has {n_categories} categories in {n_rows} rows: most are seen "
            "once or twice, which the model cannot learn from, and a new row's value would be one never "
            "seen. A column that identifies rows is no feature: leave it out (dhag train "
            f"{suggested_option('--id-columns', name)}); categories are refused past {_FEW_CATEGORIES} "
            "when they number over half the rows. If they are real categories, each seen as a normal row "
            "may be, keep them: allow_many_categories=True (dhag train --allow-many-categories)."
        )


def _refuse_undeclared_categories(X: Any, categorical: Sequence[str]) -> None:
    """Refuse a frame's column typed as categories (pandas' category dtype, which a Parquet file keeps,
    or a pyarrow dictionary type, as ``read_parquet(dtype_backend="pyarrow")`` gives it) that is not
    declared categorical: its values are categories by its own type, and categories 0, 1, 2 scaled as
    magnitudes would train a model on an order they do not have."""
    X = arrow_as_frame(X)
    if not _is_frame(X):
        return
    for column, dtype in zip(X.columns, X.dtypes, strict=True):
        typed = _category_type(dtype)
        if typed and str(column) not in categorical:
            raise InputError(
                f"Feature {str(column)!r} is typed categorical ({typed}) but not declared "
                f"so: declare it, categorical=[{str(column)!r}] (dhag train "
                f"{suggested_option('--categorical', column)}), or store it as numbers to scale it as such."
            )


def _category_type(dtype: Any) -> str | None:
    """How a frame column's ``dtype`` types its values as categories, or None when it does not."""
    if getattr(dtype, "name", None) == "category":
        return "pandas' category dtype"
    arrow = getattr(dtype, "pyarrow_dtype", None)
    if arrow is not None:
        import pyarrow.types  # there, as the dtype is pyarrow's

        if pyarrow.types.is_dictionary(arrow):
            return "a pyarrow dictionary type"
    return None
