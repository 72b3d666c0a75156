"""Reading a table's columns for the preprocessor: a DataFrame, a mapping of columns, a structured or
2-D array, as named columns of numbers or of category strings, with the errors that name what is wrong
(text in a numeric column, missing values, a 1-D array, a list of rows as mappings, a sparse
matrix)."""

from __future__ import annotations

import datetime
import decimal
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dhag.arrowtables import arrow_as_frame, is_arrow_table
from dhag.celltext import plain_number, separated_number, time_text
from dhag.exceptions import InputError
from dhag.hostarray import host_array
from dhag.infotext import suggested_option
from dhag.mappingcolumns import mapping_columns, refuse_masked

__all__ = ["as_columns", "is_missing", "names_setting_problem"]

_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def is_unnamed_table(X: Any) -> bool:
    """Whether ``X`` names no columns of its own (a 2-D array or a list of rows): :func:`as_columns`
    names its columns by position.

    >>> is_unnamed_table(np.zeros((2, 3))), is_unnamed_table({"flow": [1.0]})
    (True, False)
    """
    return not (
        _is_frame(X)
        or is_arrow_table(X)
        or isinstance(X, Mapping)
        or getattr(getattr(X, "dtype", None), "names", None)
    )


def as_columns(
    X: Any, names: Sequence[str] | None, *, model_names: bool = False
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Split tabular input into named 1-D columns.

    ``X`` is a pandas DataFrame (names from its columns), a mapping of name -> 1-D array, a numpy
    structured array (names from its fields), or a 2-D array-like (names from ``names``, else ``x0``,
    ``x1``, ...). Raises :class:`InputError` for anything else. ``names`` are the ``feature_names``
    setting, which a refusal of them names, or with ``model_names`` a fitted model's features.

    >>> as_columns(np.array([(1.0, 2)], dtype=[("a", "f8"), ("b", "i4")]), None)[0]
    ['a', 'b']
    """
    X = arrow_as_frame(host_array(X))
    if _is_frame(X):
        how = "frame.columns = ['_'.join(map(str, c)) for c in frame.columns]"
        _refuse_tuple_names(X.columns, "a frame with MultiIndex columns", how)
        cols = _distinct([str(c) for c in X.columns])
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
        how = "{'_'.join(map(str, k)): v for k, v in columns.items()}"
        _refuse_tuple_names(list(X), "a mapping keyed by tuples", how)
        return _distinct([str(c) for c in X]), mapping_columns(X)
    if isinstance(X, list | tuple) and X and all(isinstance(row, Mapping) for row in X):
        # Rows of named values: numpy would make them a 1-D array of objects, and its reshape no table.
        raise InputError(
            f"Expected a 2-D table (rows x features). Got a {type(X).__name__} of {len(X)} "
            f"mapping{'s' if len(X) != 1 else ''} (rows of named values): pd.DataFrame(rows) makes them "
            "a table whose columns are their names."
        )
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Input cannot be read as a 2-D table: {exc}") from exc
    if arr.ndim != 2:
        how = ": X.reshape(1, -1) makes it one row, X.reshape(-1, 1) one feature" if arr.ndim == 1 else ""
        raise InputError(f"Expected a 2-D table (rows x features). Got an array with shape {arr.shape}{how}.")
    # Names are text, as a frame's are read: feature_names=[1, 2] names the features "1" and "2".
    names = None if names is None else [str(n) for n in names]
    if names is None:
        names = [f"x{i}" for i in range(arr.shape[1])]
    elif len(set(names)) != len(names):
        raise InputError(
            f"feature_names has duplicates: {_preview(sorted({n for n in names if names.count(n) > 1}))}."
        )
    elif len(names) != arr.shape[1] and model_names:
        raise InputError(
            f"Expected {len(names)} features ({_preview(names)}). Got {arr.shape[1]} columns instead."
        )
    elif len(names) != arr.shape[1]:
        features = f"{len(names)} feature{'s' if len(names) != 1 else ''}"
        columns = f"{arr.shape[1]} column{'s' if arr.shape[1] != 1 else ''}"
        raise InputError(
            f"feature_names names {features} ({_preview(names)}). Got {columns} in X: give one name per "
            "column, in the columns' order."
        )
    if isinstance(X, np.ma.MaskedArray):
        refuse_masked({n: X[:, i] for i, n in enumerate(names)})
    return list(names), {n: arr[:, i] for i, n in enumerate(names)}


def names_setting_problem(name: str, value: Any, *, none_ok: bool = False) -> str | None:
    """What the setting ``name``, a list of columns (``categorical``, ``passthrough``, ``feature_names``
    where ``none_ok``), must be, when ``value`` is not that; None when it is.

    >>> names_setting_problem("categorical", "site")
    "a list of column names (categorical=['site'] names one column)"
    >>> names_setting_problem("passthrough", None), names_setting_problem("passthrough", ("a", "b"))
    ('a list of column names (passthrough=[] names none)', None)
    """
    allowed = ("None or " if none_ok else "") + "a list of column names"
    if isinstance(value, str | bytes):  # a lone name would be read letter by letter
        return f"{allowed} ({name}=[{value!r}] names one column)"
    if (value is None and none_ok) or (value is not None and hasattr(value, "__iter__")):
        return None
    return allowed if none_ok else f"{allowed} ({name}=[] names none)"


def _refuse_tuple_names(names: Iterable[Any], given: str, how: str) -> None:
    """Refuse columns named by tuples (a frame's MultiIndex levels): a feature is named by one text, and
    ``str(("p", "a"))`` is no name a user wrote, nor one a file to score could hold as a column."""
    if (first := next((n for n in names if isinstance(n, tuple)), None)) is not None:
        raise InputError(
            f"Column names must be text; {given} names a column {first!r}: join each into one name "
            f"({'_'.join(map(str, first))!r}), as {how} does."
        )


def _distinct(names: list[str]) -> list[str]:
    """``names`` (a frame's columns or a mapping's keys, as text), refused when one occurs twice: the
    column 1 and the column "1" are one feature "1", of which only one could be read."""
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(
            f"Input has duplicate column names: {_preview(twice)} (names are read as text: a column 1 "
            "and a column '1' are one name)."
        )
    return names


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
        f" A column of categories must be declared: categorical=[{name!r}] (dhag train "
        f"{suggested_option('--categorical', name)}); one that identifies rows is no feature: leave it "
        f"out (dhag train {suggested_option('--id-columns', name)})."
    )


def _not_a_number(name: str, value: Any, *, fitting: bool, values: Sequence[Any] = ()) -> str:
    """What a refusal of ``value`` (or of a column of its dtype) in the numeric feature ``name`` adds:
    numbers written with a separator (the first of them among the column's ``values``) are no category,
    a column of numbers holding a few cells that are none is to be corrected, a duration is to be
    written in seconds, a time is no feature; text while ``fitting`` may be a column of categories to
    declare."""
    texts = [(row, v) for row, v in enumerate(values) if isinstance(v, str)]
    # Numbers only when every text is one: a column of zones holding '3,4' beside 'north' is categories.
    separated = next(((row, v) for row, v in texts if separated_number(v)), None)
    if separated is not None and all(separated_number(v) or plain_number(v) for _, v in texts):
        return (
            f" It holds numbers written with a thousands separator or a decimal comma ({separated[1]!r} at "
            f"row {separated[0]}): write numbers without separators, with '.' as the decimal mark."
        )
    if texts and (bad_cells := _bad_cells(values)):
        return bad_cells
    if texts and all(time_text(v) for _, v in texts):  # a CSV's times, read as text
        return _no_time(name)
    if texts and all(plain_number(v) for _, v in texts):
        return _stored_as_text(name, *texts[0], fitting=fitting)
    if isinstance(value, (datetime.timedelta, np.timedelta64)) or getattr(value, "kind", None) == "m":
        # A run time, a time since service: a number worth training on, once it is one.
        return (
            f" A duration is a number once it is written in seconds: convert it, "
            f"frame[{name!r}].dt.total_seconds() (for an array, X / np.timedelta64(1, 's'))."
        )
    if isinstance(value, (np.dtype, datetime.date, np.datetime64)) and (
        not isinstance(value, np.dtype) or value.kind == "M"
    ):
        return _no_time(name)
    if type(value).__name__ == "Period":  # pandas' month or day (to_period's): a time, as a datetime is
        return _no_time(name)
    return _declare_text(name) if fitting and (isinstance(value, str) or _is_text_dtype(value)) else ""


def _no_time(name: str) -> str:
    return (
        f" A time is no feature: leave it out (dhag train {suggested_option('--id-columns', name)}), "
        "or derive numbers from it (the hour of day, seconds since an event)."
    )


def _stored_as_text(name: str, row: int, text: str, *, fitting: bool) -> str:
    """What a refusal of a column of numbers held as strings adds: text in memory is never taken for
    numbers (a file's is read as numbers: a CSV's, an NPZ's), so the caller converts it."""
    declare = f"dhag train {suggested_option('--categorical', name)}"
    codes = f"; category codes are declared: categorical=[{name!r}] ({declare})"
    return (
        f" Its values are numbers stored as text ({text!r} at row {row}): convert them to numbers "
        f"(frame.astype({{{name!r}: float}}), or X.astype(float) for an array){codes if fitting else ''}."
    )


def _bad_cells(values: Sequence[Any], shown: int = 3) -> str:
    """For ``values`` most of which are numbers (or text that is one), a few not: how many are not, the
    first ``shown`` with their rows, and to correct them; empty for a column of words. A word among
    numbers is a bad cell (a sensor's 'broken', an export's '?'), no category to declare."""
    odd = [(row, v) for row, v in enumerate(values) if not _is_number_type(type(v)) and not _plain_text(v)]
    numbers = len(values) - len(odd)
    if not odd or numbers <= len(values) / 2:
        return ""
    listed = "; ".join(f"{_shown(v)} at row {row}" for row, v in odd[:shown])
    more = "; ..." if len(odd) > shown else ""
    if len(odd) == 1:
        fix = f"is not ({listed}): correct that cell, or drop its row"
    else:
        fix = f"are not ({listed}{more}): correct those cells, or drop their rows"
    return f" It holds numbers: {numbers:,} of its {len(values):,} values are, {len(odd):,} {fix}."


def _plain_text(value: Any) -> bool:
    return isinstance(value, str) and plain_number(value)


def _is_text_dtype(value: Any) -> bool:
    return isinstance(value, np.dtype) and value.kind in "US"


def _numeric(name: str, col: np.ndarray, *, fitting: bool = False) -> np.ndarray:
    """``col`` as float64, refused naming ``name`` unless it holds only finite numbers. ``fitting``: the
    column is being learned from, and a refusal of text says how to declare it."""
    if col.size == 0:
        return np.zeros(0)  # no rows: nothing to check (a header-only CSV reads as dtype object)
    if col.dtype.kind == "O":
        col = _object_numbers(name, col, fitting=fitting)
    if col.dtype.kind not in "biuf":
        hint = _not_a_number(
            name, col.dtype, fitting=fitting, values=col.tolist() if col.dtype.kind == "U" else ()
        )
        raise InputError(
            f"Feature {name!r} must be numeric (bool, int or float). Got dtype {col.dtype} instead.{hint}"
        )
    out = col.astype(np.float64, copy=False)
    bad = ~np.isfinite(out)
    if bad.all() and np.isnan(out).all():
        raise _empty(name, out.size, "NaN (an empty cell of a file reads as NaN)", fitting=fitting)
    if bad.any():
        missing = " An empty cell of a file, or one holding a word for missing such as NA, n/a or null,"
        empty = f"{missing} reads as NaN." if np.isnan(out).any() else ""
        row = int(np.argmax(bad))
        raise InputError(
            f"Feature {name!r} has {int(bad.sum())} NaN or infinite value(s) (first at row {row}).{empty}",
            cell=(name, row),
        )
    return out


def _empty(name: str, size: int, what: str, *, fitting: bool) -> InputError:
    """The refusal of a feature with no value at all: NaN in each row, or a gap (None, pd.NA)."""
    leave_out = f": leave it out (dhag train {suggested_option('--id-columns', name)})" if fitting else ""
    return InputError(f"Feature {name!r} is empty: all its {size} values are {what}{leave_out}.")


def is_missing(value: Any) -> bool:
    """None, a float NaN or pandas' NA (what a nullable column's to_numpy() holds for a gap)."""
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NAType"


def _is_number_type(kind: type) -> bool:
    # np.timedelta64 is an np.integer, and a complex cast to float drops its imaginary part. A Decimal is
    # a database's NUMERIC as pd.read_parquet and pd.read_sql give it (a Fraction is a Rational).
    return issubclass(kind, (numbers.Real, decimal.Decimal, np.bool_)) and not issubclass(
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
        if all(map(is_missing, values)):  # gaps, maybe with NaN: a column of nulls in a Parquet file
            raise _empty(name, len(values), "missing", fitting=fitting)
        if missing.any():
            raise InputError(
                f"Feature {name!r} has {int(missing.sum())} missing value(s) "
                f"(first at row {int(np.argmax(missing))})."
            )
        # A file's column with one word among numbers reads as text throughout: name the word, not the
        # first number written as text.
        odd = [(i, v) for i, v in enumerate(values) if not _is_number_type(type(v))]
        row, v = next(((i, v) for i, v in odd if not (isinstance(v, str) and plain_number(v))), odd[0])
        hint = _not_a_number(name, v, fitting=fitting, values=values if isinstance(v, str) else ())
        raise InputError(
            f"Feature {name!r} must be numeric (bool, int or float). Got {_shown(v)} "
            f"({type(v).__name__}) at row {row}.{hint}"
        )
    try:
        return col.astype(np.float64)
    except OverflowError:
        row = next(i for i, v in enumerate(values) if isinstance(v, int) and abs(v) > _FLOAT64_MAX)
        raise InputError(f"Feature {name!r} has a value too large for a float at row {row}.") from None


def _category_text(value: Any) -> str:
    """A categorical value as text: an integral float as the int, bytes (numpy's "S" dtype, h5py's
    strings) as the UTF-8 text they hold, not their repr: b"north" is the category 'north'."""
    if isinstance(value, (float, np.floating)) and value.is_integer():
        return str(int(value))
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _category_strings(name: str, col: np.ndarray) -> np.ndarray:
    if col.dtype.kind == "f" and not np.isfinite(col).all():
        raise InputError(f"Categorical feature {name!r} has NaN or infinite values.")
    # 1 and 1.0 are one category: integral floats are written as ints. Floats are written at their own
    # precision, so 0.1 as float32 and as float64 is one category too.
    values = list(col) if col.dtype.kind == "f" else col.tolist()
    out = np.asarray([_category_text(v) for v in values], dtype=object)
    # Missing is None, a float NaN or pandas' NA, told before they become strings: a category may be
    # called "None" or "NaN" itself.
    missing = np.asarray([is_missing(v) for v in values])
    if missing.any():
        # scikit-learn's OneHotEncoder makes a gap a category of its own; here it is refused, so say how.
        raise InputError(
            f"Categorical feature {name!r} has {int(missing.sum())} missing value(s) "
            f"(first at row {int(np.argmax(missing))}). A gap is no category: fill those cells with one of "
            f"their own, frame[{name!r}].fillna('unknown') (in a file, a word such as unknown), or drop "
            "their rows."
        )
    return out
