"""Fitted preprocessing saved with the model: named features, z-scores, one-hot categories."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dhag.exceptions import InputError, NotFittedError, ParameterError

__all__ = ["Preprocessor", "as_columns", "is_missing"]

logger = logging.getLogger(__name__)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def as_columns(X: Any, names: Sequence[str] | None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Split tabular input into named 1-D columns.

    ``X`` is a pandas DataFrame (names from its columns), a mapping of name -> 1-D array, a numpy
    structured array (names from its fields), or a 2-D array-like (names from ``names``, else ``x0``,
    ``x1``, ...). Raises :class:`InputError` for anything else.

    >>> as_columns(np.array([(1.0, 2)], dtype=[("a", "f8"), ("b", "i4")]), None)[0]
    ['a', 'b']
    """
    if _is_frame(X):
        cols = [str(c) for c in X.columns]
        if len(set(cols)) != len(cols):
            raise InputError("Input has duplicate column names.")
        return cols, {str(c): _frame_column(X[c]) for c in X.columns}
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy.sparse: the networks take dense rows
        raise InputError(
            f"Expected a dense table. Got a sparse matrix of shape {X.shape}: X.toarray() makes it dense "
            "(in a Pipeline, OneHotEncoder(sparse_output=False) writes dense columns)."
        )
    if hasattr(X, "to_frame") and hasattr(X, "index"):  # a pandas Series: a row, or a column?
        raise InputError(
            f"Expected a 2-D table (rows x features). Got a pandas Series of {len(X)} values: "
            "frame.iloc[[i]] (or series.to_frame().T) is one row named by its features, "
            "series.to_frame() one feature."
        )
    if isinstance(X, np.ndarray) and X.dtype.names is not None:
        if X.ndim != 1 or any(X.dtype[n].shape for n in X.dtype.names):
            raise InputError(
                f"A structured array must be 1-D with one value per field and row. Got shape {X.shape} "
                f"and fields {X.dtype}."
            )
        return [str(n) for n in X.dtype.names], {str(n): X[n] for n in X.dtype.names}
    if isinstance(X, Mapping):
        cols = [str(c) for c in X]
        data = {str(c): np.asarray(v) for c, v in X.items()}
        lengths = {v.shape for v in data.values()}
        if any(v.ndim != 1 for v in data.values()) or len({s[0] for s in lengths}) > 1:
            raise InputError("A mapping input must hold 1-D columns of equal length.")
        return cols, data
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Input cannot be read as a 2-D table: {exc}") from exc
    if arr.ndim != 2:
        how = ": X.reshape(1, -1) makes it one row, X.reshape(-1, 1) one feature" if arr.ndim == 1 else ""
        raise InputError(f"Expected a 2-D table (rows x features). Got an array with shape {arr.shape}{how}.")
    names = None if names is None else list(names)
    if names is None:
        names = [f"x{i}" for i in range(arr.shape[1])]
    elif len(set(names)) != len(names):
        raise InputError(
            f"feature_names has duplicates: {_preview(sorted({n for n in names if names.count(n) > 1}))}."
        )
    elif len(names) != arr.shape[1]:
        raise InputError(
            f"Expected {len(names)} features ({_preview(names)}). Got {arr.shape[1]} columns instead."
        )
    return list(names), {n: arr[:, i] for i, n in enumerate(names)}


def _frame_column(col: Any) -> np.ndarray:
    """A frame's column as numpy values. A nullable numeric column (``Int64``, ``Float64``, ``boolean``)
    with gaps comes as objects with None for them, so that a gap is named as missing, not as NaN."""
    if not isinstance(col.dtype, np.dtype) and getattr(col.dtype, "kind", "O") in "iufb" and col.hasnans:
        return col.to_numpy(dtype=object, na_value=None)
    return col.to_numpy()


def _preview(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _declare_text(name: str) -> str:
    """How to train on a column of text: what ``fit`` adds to its refusal of one it takes for numbers."""
    return (
        f" A column of categories must be declared: categorical=[{name!r}] (dhag train --categorical "
        f"{name}); one that identifies rows is no feature: leave it out (dhag train --id-columns {name})."
    )


def _numeric(name: str, col: np.ndarray, *, fitting: bool = False) -> np.ndarray:
    """``col`` as float64, refused naming ``name`` unless it holds only finite numbers. ``fitting``: the
    column is being learned from, and a refusal of text says how to declare it."""
    if col.size == 0:
        return np.zeros(0)  # no rows: nothing to check (a header-only CSV reads as dtype object)
    if col.dtype.kind == "O":
        col = _object_numbers(name, col, fitting=fitting)
    if col.dtype.kind not in "biuf":
        hint = _declare_text(name) if fitting and col.dtype.kind in "US" else ""
        raise InputError(
            f"Feature {name!r} must be numeric (bool, int or float). Got dtype {col.dtype} instead.{hint}"
        )
    out = col.astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.any():
        raise InputError(
            f"Feature {name!r} has {int(bad.sum())} NaN or infinite value(s) "
            f"(first at row {int(np.argmax(bad))})."
        )
    return out


def is_missing(value: Any) -> bool:
    """None, a float NaN or pandas' NA (what a nullable column's to_numpy() holds for a gap)."""
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"


def _is_number_type(kind: type) -> bool:
    # np.timedelta64 is an np.integer, and a complex cast to float drops its imaginary part.
    return issubclass(kind, (int, float, np.bool_, np.integer, np.floating)) and not issubclass(
        kind, np.timedelta64
    )


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters (a cell may hold a document)."""
    text = " ".join(repr(value)[: 4 * limit].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _object_numbers(name: str, col: np.ndarray, *, fitting: bool = False) -> np.ndarray:
    """The float64 values of an object column of numbers (as a mixed frame's or a nullable column's
    to_numpy() gives); raises naming the first gap, non-number or number too large for a float."""
    values = col.tolist()
    # The types are checked once each: a column of a million numbers holds only a few of them.
    if not all(map(_is_number_type, set(map(type, values)))):
        # A float NaN is a number here: the NaN check after conversion names it as such.
        missing = np.asarray([is_missing(v) and not isinstance(v, float) for v in values], dtype=bool)
        if missing.any():
            raise InputError(
                f"Feature {name!r} has {int(missing.sum())} missing value(s) "
                f"(first at row {int(np.argmax(missing))})."
            )
        row, v = next((i, v) for i, v in enumerate(values) if not _is_number_type(type(v)))
        hint = _declare_text(name) if fitting and isinstance(v, str) else ""
        raise InputError(
            f"Feature {name!r} must be numeric (bool, int or float). Got {_shown(v)} "
            f"({type(v).__name__}) at row {row}.{hint}"
        )
    try:
        return col.astype(np.float64)
    except OverflowError:
        row = next(i for i, v in enumerate(values) if isinstance(v, int) and abs(v) > _FLOAT64_MAX)
        raise InputError(f"Feature {name!r} has a value too large for a float at row {row}.") from None


def _category_strings(name: str, col: np.ndarray) -> np.ndarray:
    if col.dtype.kind == "f" and not np.isfinite(col).all():
        raise InputError(f"Categorical feature {name!r} has NaN or infinite values.")
    # 1 and 1.0 are one category: integral floats are written as ints. Floats are written at their own
    # precision, so 0.1 as float32 and as float64 is one category too.
    values = list(col) if col.dtype.kind == "f" else col.tolist()
    out = np.asarray(
        [str(int(v)) if isinstance(v, (float, np.floating)) and v.is_integer() else str(v) for v in values],
        dtype=object,
    )
    # Missing is None, a float NaN or pandas' NA, told before they become strings: a category may be
    # called "None" or "NaN" itself.
    missing = np.asarray([is_missing(v) for v in values])
    if missing.any():
        raise InputError(
            f"Categorical feature {name!r} has {int(missing.sum())} missing value(s) "
            f"(first at row {int(np.argmax(missing))})."
        )
    return out


class Preprocessor:
    """Standardise numeric features with training statistics and one-hot declared categoricals.

    Numeric columns become ``(x - mean) / std`` (a constant column gets std 1); ``passthrough``
    columns are kept as they are (already-encoded 0/1 columns, say); ``categorical`` columns become
    one 0/1 column per category seen in training (an unseen category scores as all zeros).
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
    ) -> None:
        # Column names are read as text (a frame's integer column 1 is feature "1"): so are these.
        self.categorical = tuple(str(c) for c in categorical)
        self.passthrough = tuple(str(c) for c in passthrough)
        self.feature_names = None if feature_names is None else tuple(feature_names)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X: Any) -> Preprocessor:
        """Learn names, statistics and categories from training data ``X``; returns self."""
        overlap = set(self.categorical) & set(self.passthrough)
        if overlap:
            raise ParameterError(
                f"A feature cannot be both categorical and passthrough. Got {_preview(sorted(overlap))}."
            )
        names, cols = as_columns(X, self.feature_names)
        n_rows = len(next(iter(cols.values()))) if cols else 0
        if not names or n_rows == 0:
            raise InputError("Cannot fit on an empty table.")
        for group, label in ((self.categorical, "categorical"), (self.passthrough, "passthrough")):
            unknown = [c for c in group if c not in cols]
            if unknown:
                raise ParameterError(
                    f"The {label!r} features {_preview(unknown)} are not among the input "
                    f"features ({_preview(names)})."
                )
        means: dict[str, float] = {}
        scales: dict[str, float] = {}
        ranges: dict[str, list[float]] = {}
        categories: dict[str, list[str]] = {}
        frequencies: dict[str, list[float]] = {}
        for name in names:
            if name in self.categorical:
                values = _category_strings(name, cols[name])
                cats, counts = np.unique(values.astype(str), return_counts=True)
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
        self.feature_names_in_ = names
        self.means_ = means
        self.scales_ = scales
        self.ranges_ = ranges
        self.categories_ = categories
        self.category_frequencies_ = frequencies
        self.output_names_ = self._output_names()
        return self

    def _output_names(self) -> list[str]:
        out: list[str] = []
        for name in self.feature_names_in_:
            if name in self.categories_:
                out.extend(f"{name}={c}" for c in self.categories_[name])
            else:
                out.append(name)
        return out

    # -- transforming ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_names_in_"):
            raise NotFittedError("This Preprocessor is not fitted yet. Call 'fit' first.")

    def check_names(self, names: Sequence[str]) -> None:
        """Raise :class:`InputError` unless ``names`` are exactly the training features."""
        self._check_fitted()
        expected = self.feature_names_in_
        if list(names) == list(expected):
            return
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {_preview(missing)}")
            if extra:
                parts.append(f"unexpected {_preview(extra)}")
            raise InputError(
                f"Input features do not match the {len(expected)} training features: "
                + "; ".join(parts)
                + "."
            )

    def transform(self, X: Any) -> np.ndarray:
        """Return the model-ready float32 matrix (rows x ``len(output_names_)``)."""
        self._check_fitted()
        names, cols = as_columns(X, None if _is_frame(X) else self.feature_names_in_)
        self.check_names(names)
        n_rows = len(cols[names[0]])
        out = np.empty((n_rows, len(self.output_names_)), dtype=np.float32)
        j = 0
        for name in self.feature_names_in_:
            if name in self.categories_:
                values = _category_strings(name, cols[name])
                cats = self.categories_[name]
                out[:, j : j + len(cats)] = values[:, None] == np.asarray(cats, dtype=object)[None, :]
                self._warn_unseen(name, values[~out[:, j : j + len(cats)].any(axis=1)])
                j += len(cats)
            else:
                col = _numeric(name, cols[name])
                if name not in self.passthrough:
                    col = (col - self.means_[name]) / self.scales_[name]
                beyond = np.abs(col) > _FLOAT32_MAX  # the network computes in float32
                if beyond.any():
                    raise InputError(
                        f"Feature {name!r} has {int(beyond.sum())} value(s) too large for the model to score "
                        f"(first at row {int(np.argmax(beyond))}: beyond float32 once standardised)."
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
                "Categorical feature %r: %d row(s) with a category not seen in training (first %r); "
                "they are scored as in no known category (said once per feature)",
                name,
                unseen.size,
                unseen[0],
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
