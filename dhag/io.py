"""Reading tabular files for the command line: CSV, Parquet and NPZ."""

from __future__ import annotations

import codecs
import gzip
import re
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dhag.csvhead import check_head, lines_above_header
from dhag.exceptions import InputError
from dhag.filekind import not_a_file
from dhag.headerless import headerless_note, numbers_for_names
from dhag.labelvalues import LabelValues, labels_of
from dhag.namehints import near_names, not_columns
from dhag.parquetfile import read_parquet, repeated_names
from dhag.separators import other_separator, separated_otherwise

__all__ = ["read_table"]

# What pandas' read_csv takes for a missing value by default (its documented na_values).
_PANDAS_MISSING = (
    *("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"),
    *("N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"),
)


def read_table(
    path: str | Path,
    *,
    label_column: str | None = None,
    text_columns: Sequence[str] = (),
    carried: Sequence[str] = (),
    named: Sequence[str] = (),
    label_values: LabelValues | None = None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Read a table and split off an optional label column (1 = known anomaly, 0 = normal): its 0 and 1,
    or with ``label_values`` its text read through them (:func:`~dhag.labelvalues.labels_of`).

    CSV (header row), Parquet, or NPZ (array ``X``; optional ``feature_names`` and, with a label
    column, an array of that name) are understood, by file suffix. A CSV's ``text_columns`` (the
    categorical ones) are read as text, so that a category is the same whatever the other rows hold:
    left to guess, pandas reads ``01`` as the number 1 in a file where every value looks numeric. An
    NPZ's ``X`` of strings has its other columns read as a CSV's (:func:`_numbers_of_text`). A CSV
    whose header leaves a column unnamed or names one twice, or whose rows are wider than its header,
    is refused (pandas would rename the columns or shift the values under other names). An NPZ's
    arrays named in ``carried`` (the label column a model was trained with, for ``dhag score``) that it
    holds beside ``X`` become columns of the frame, as a CSV's would be, left as they are. A Parquet
    file's named index (pandas' ``to_parquet`` of a frame indexed by a time) is a column where the label,
    a text column, a carried one or one ``named`` (by the command: a feature, an id) names it, and is
    left out with a warning otherwise, as fit and scoring leave out a DataFrame's index. A leading
    ``~`` in ``path`` is the home folder.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> frame, y = read_table(p, label_column="label")
    >>> list(frame.columns), y.tolist()
    (['a', 'b'], [0, 1])
    """
    path = Path(path).expanduser()  # a leading ~ is the home folder, as for a model's path
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        if str(path) == "-":
            raise InputError(
                "Data '-': rows are not read from standard input; give the path of a CSV, Parquet or NPZ "
                "file (a file's suffix tells its format)."
            ) from exc
        raise InputError(f"Data file {str(path)!r} does not exist.") from exc
    except OSError as exc:  # a symlink loop, a folder that may not be searched
        raise InputError(f"Data file {str(path)!r} cannot be read: {exc.strerror or exc}.") from exc
    if stat.S_ISFIFO(mode):
        raise InputError(
            f"Data file {str(path)!r} is a pipe (a FIFO, or a process substitution <(...)), which can be "
            "read only once, and dhag reads a file's first lines before the whole: write the rows to a "
            "file first, its suffix naming its format (.csv, .csv.gz, .parquet or .npz)."
        )
    if stat.S_ISDIR(mode):
        raise InputError(f"Data file {str(path)!r} is a folder: name a file in it.")
    if (kind := not_a_file(mode)) is not None:  # a device, a socket
        raise InputError(f"Data file {str(path)!r} is {kind}, not a file of rows.")
    if label_column is not None and label_column in [str(c) for c in text_columns]:
        raise InputError(f"{label_column!r} is the label column; it cannot also be a feature (categorical).")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz"):
            # Read through values given as text, a label column's cells are compared as written.
            frame = _read_csv(path, text_columns, label_column if label_values is not None else None)
        elif suffix in (".parquet", ".pq"):
            named = [*named, *carried, *([label_column] if label_column is not None else [])]
            frame = read_parquet(path, text_columns, named=named)
        elif suffix == ".npz":
            if not zipfile.is_zipfile(path):  # np.load would take it for pickled data
                raise InputError(
                    f"Cannot read {str(path)!r}: it is not an NPZ archive (np.savez writes one)."
                )
            with np.load(path, allow_pickle=False) as npz:
                if "X" not in npz:
                    raise InputError(
                        f"NPZ file {str(path)!r} has no array named 'X' (it holds {_preview(npz.files)})."
                    )
                X = _npz_text(_npz_array(npz, "X", path), "X", path)
                if X.ndim != 2:
                    raise InputError(
                        f"Array 'X' in {str(path)!r} must be 2-D, rows by features. {_not_2d(X)}"
                    )
                names = [f"x{i}" for i in range(X.shape[1])]
                if "feature_names" in npz:
                    given = _npz_text(_npz_array(npz, "feature_names", path), "feature_names", path)
                    if given.shape != (X.shape[1],):
                        raise InputError(
                            f"NPZ file {str(path)!r}: 'feature_names' must be a 1-D array of {X.shape[1]} "
                            f"names (one per column of 'X'). Got shape {given.shape}."
                        )
                    names = [str(n) for n in given]
                    blank = [i for i, name in enumerate(names) if not name.strip()]
                    if blank:  # as a CSV's header: no CSV could name that feature to score it
                        raise InputError(
                            f"NPZ file {str(path)!r}: 'feature_names' has no name at position {blank[0]} "
                            f"(of 0 to {len(names) - 1}); every column must be named."
                        )
                frame = pd.DataFrame(X, columns=names)
                if X.dtype.kind == "U":
                    _numbers_of_text(frame, text_columns)
                    for name in {str(c) for c in text_columns} & set(names):  # as a CSV's empty cell
                        frame[name] = frame[name].mask(frame[name] == "")
                for name in [c for c in carried if c in npz.files and c not in names]:
                    if name not in ("X", "feature_names", label_column):
                        frame[name] = _npz_column(npz, name, path, X.shape[0])
                if label_column is not None:
                    if label_column not in npz:
                        near = near_names([label_column], npz.files)
                        raise InputError(
                            f"NPZ file {str(path)!r} has no array named {label_column!r} (it holds "
                            f"{_preview(npz.files)}){f': {near}; names must match exactly' if near else ''}."
                        )
                    if label_column in names:  # the label would silently replace that feature's values
                        raise InputError(
                            f"NPZ file {str(path)!r}: {label_column!r} is both a feature of 'X' and an array "
                            "of its own; the label must be one or the other."
                        )
                    frame[label_column] = _npz_column(npz, label_column, path, X.shape[0])
        else:
            sheet = ": save the sheet as CSV UTF-8" if suffix in (".xlsx", ".xlsm", ".xls", ".ods") else ""
            raise InputError(
                f"Cannot read {str(path)!r}: the suffix must be .csv, .csv.gz, .parquet or .npz{sheet}."
            )
    except InputError:
        raise
    except pd.errors.EmptyDataError as exc:  # no byte, or blank lines only
        raise InputError(
            f"Cannot read {str(path)!r}: it is empty (nothing but blank lines, if any); a CSV starts with a "
            "header row naming its columns."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"Cannot read {str(path)!r}: it is not UTF-8 text ({_first_non_utf8(path, exc)}); "
            "save it as UTF-8."
        ) from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a truncated .npz is a bad zip
        raise InputError(f"Cannot read {str(path)!r}: {exc}") from exc
    labels = None
    if label_column is not None:
        if label_column not in frame.columns:
            columns, among = [str(c) for c in frame.columns], repr(str(path))
            raise InputError(not_columns("--label-column names", [label_column], columns, among=among))
        labels = labels_of(frame.pop(label_column), label_column, label_values)
    return frame, labels


def _read_csv(path: Path, text_columns: Sequence[str], label_text: str | None = None) -> pd.DataFrame:
    """A CSV whose header names every column once, with no row wider than the header.

    pandas would read past both silently: a repeated name becomes ``a.1``, a blank one ``Unnamed: 3``
    (a frame's index written with it, a trailing comma), and rows one field wider than the header make
    their first field the index, so that every value lands under the name of the column after it.
    Read without a header, the first data row must split into as many fields as the header row. The
    column ``label_text`` names is read as text, pandas' words for missing still missing. A file
    that another separator splits into a table is refused (:func:`~dhag.separators.other_separator`).
    """
    check_head(path)
    try:
        head = pd.read_csv(path, header=None, nrows=2, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise _parser_failure(path, exc) from exc
    other_separator(path, head, [str(c) for c in text_columns])
    names = [str(n) for n in head.iloc[0]] if len(head) else []
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise InputError(
                f"Cannot read {str(path)!r}: column {position} of the header has no name (a frame's index "
                "written with the data, or a trailing comma?); every column must be named."
            )
    repeated = repeated_names(names)
    if repeated:
        numbers = numbers_for_names(path, names)
        note = f" {headerless_note(path, numbers)}" if numbers else ""
        raise InputError(f"Cannot read {str(path)!r}: the header names {repeated} more than once.{note}")
    text = [str(c) for c in text_columns]
    # Only an empty cell is a missing category or id: pandas' words for missing ('NA', 'None', 'null')
    # are a region code, a fault class, a tag there. The other columns keep pandas' words.
    missing = {n: [""] if n in text else list(_PANDAS_MISSING) for n in names}
    try:
        dtype = dict.fromkeys([*text, *([label_text] if label_text in names else [])], str)
        return pd.read_csv(path, dtype=dtype or None, keep_default_na=False, na_values=missing)
    except pd.errors.ParserError as exc:  # a later row wider than the header, or memory running out
        raise _parser_failure(path, exc) from exc


def _first_non_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte of ``path`` (its text, for a .gz) that is not UTF-8 lies: pandas decodes a
    file in chunks, and ``exc`` gives the position in one of them only."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0
    try:
        with (gzip.open if path.suffix.lower() == ".gz" else open)(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                pending = decoder.getstate()[0]  # a character the last chunk ended inside
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as found:
                    text = pending + chunk
                    lines += text.count(b"\n", len(pending), found.start)
                    where = offset - len(pending) + found.start
                    return f"byte 0x{text[found.start]:02x} at position {where}, line {lines + 1}"
                offset += len(chunk)
                lines += chunk.count(b"\n")
    except (OSError, EOFError):
        pass
    return f"byte 0x{exc.object[exc.start]:02x}"


def _numbers_of_text(frame: pd.DataFrame, text_columns: Sequence[str]) -> None:
    """Read the columns of ``frame`` (an NPZ's ``X`` of strings) as a CSV's: those that are not
    ``text_columns`` and hold only numbers, or pandas' words for missing, become numbers (with NaN).
    np.savez keeps a table with a column of categories only as text; a column with a word among its
    numbers stays text, so that the word is named."""
    text = {str(c) for c in text_columns}
    for name in frame.columns:
        if name in text:
            continue
        missing = frame[name].isin(_PANDAS_MISSING)
        numbers = pd.to_numeric(frame[name].mask(missing), errors="coerce")
        if not (numbers.isna() & ~missing).any():
            frame[name] = numbers


def _not_2d(X: np.ndarray) -> str:
    """What an NPZ's ``X`` that is not 2-D is, and how to save it so."""
    if X.dtype.names:  # np.genfromtxt(..., names=True) gives one
        fields = ", ".join(map(repr, X.dtype.names[:5])) + (", ..." if len(X.dtype.names) > 5 else "")
        return (
            f"Got a structured array (fields {fields}): save its values with their names, "
            "X=numpy.lib.recfunctions.structured_to_unstructured(X), feature_names=np.array(X.dtype.names)."
        )
    if X.ndim == 1:
        return (
            f"Got shape {X.shape}: save one feature's values as X.reshape(-1, 1), or one row as "
            "X.reshape(1, -1)."
        )
    return f"Got shape {X.shape}: save a 2-D array, one row per reading and one column per feature."


def _npz_array(npz: Any, key: str, path: Path) -> np.ndarray:
    """``npz[key]``; an array of Python objects is refused saying how to save it instead (loading one
    may run code the file holds)."""
    try:
        return npz[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise InputError(
            f"NPZ file {str(path)!r}: the array {key!r} holds Python objects, which are not loaded (they "
            "could run code); save numbers as a numeric array and names as np.array(names, dtype=str)."
        ) from None


def _npz_column(npz: Any, key: str, path: Path, rows: int) -> np.ndarray:
    """The array ``key`` of an NPZ as a column of its table: one value per row of ``X``."""
    column = _npz_text(_npz_array(npz, key, path), key, path)
    if column.shape != (rows,):
        raise InputError(
            f"NPZ file {str(path)!r}: {key!r} must be 1-D with one value per row of 'X' ({rows}). "
            f"Got shape {column.shape}."
        )
    return column


def _npz_text(array: np.ndarray, key: str, path: Path) -> np.ndarray:
    """``array`` with its bytes (dtype ``S``, how np.savez keeps encoded text) decoded as UTF-8, so that
    they read as the same text saved as strings would; any other array as it is."""
    if array.dtype.kind != "S":
        return array
    try:
        return np.char.decode(array, "utf-8")
    except UnicodeDecodeError:
        for where, value in np.ndenumerate(array):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                axes = ("position",) if array.ndim == 1 and key == "feature_names" else ("row", "column")
                place = ", ".join(f"{axis} {i}" for axis, i in zip(axes, where, strict=False))
                raise InputError(
                    f"NPZ file {str(path)!r}: {key!r} holds bytes that are not UTF-8 text "
                    f"({bytes(value)!r} at {place}); save its text as UTF-8, or as strings "
                    "(np.array(values, dtype=str))."
                ) from None
        raise


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return (shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")) or "no arrays"


def _parser_failure(path: Path, exc: Exception) -> Exception:
    """What pandas' C tokenizer failing on ``path`` means: a shortage of memory (a ``MemoryError``, which
    its ParserError says only in words), a file another separator splits into a table (with decimal
    commas, as a spreadsheet under a European locale exports it), else a row wider than the header."""
    if "out of memory" in str(exc):
        return MemoryError(f"reading {str(path)!r}: {exc}")
    return separated_otherwise(path) or _too_wide(path, exc)


def _too_wide(path: Path, exc: Exception) -> InputError:
    said = " ".join(str(exc).split())  # pandas' message ends in a line break
    found = re.fullmatch(r".*Expected 1 fields in line (\d+), saw \d+", said)
    title = lines_above_header(path, int(found.group(1))) if found else None
    if title:
        return InputError(f"Cannot read {str(path)!r}: {title}.")
    return InputError(
        f"Cannot read {str(path)!r}: {said}. Every row must hold as many fields as the header names; is "
        "the separator not ',', or a decimal mark a comma?"
    )
