"""Reading tabular files for the command line: CSV, Parquet and NPZ."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dhag.exceptions import InputError

__all__ = ["read_table"]


def read_table(
    path: str | Path, *, label_column: str | None = None, text_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Read a table and split off an optional label column (1 = known anomaly, 0 = normal).

    CSV (header row), Parquet, or NPZ (array ``X``; optional ``feature_names`` and, with a label
    column, an array of that name) are understood, by file suffix. A CSV's ``text_columns`` (the
    categorical ones) are read as text, so that a category is the same whatever the other rows hold:
    left to guess, pandas reads ``01`` as the number 1 in a file where every value looks numeric.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("a,b,label\\n1,2,0\\n3,4,1\\n")
    >>> frame, y = read_table(p, label_column="label")
    >>> list(frame.columns), y.tolist()
    (['a', 'b'], [0, 1])
    """
    path = Path(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InputError(f"Data file {str(path)!r} {what}.")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz"):
            frame = pd.read_csv(path, dtype={str(c): str for c in text_columns} or None)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if "X" not in npz:
                    raise InputError(f"NPZ file {str(path)!r} has no array named 'X'.")
                X = npz["X"]
                if X.ndim != 2:
                    raise InputError(f"Array 'X' in {str(path)!r} must be 2-D. Got shape {X.shape}.")
                names = [str(n) for n in npz["feature_names"]] if "feature_names" in npz else None
                frame = pd.DataFrame(X, columns=names or [f"x{i}" for i in range(X.shape[1])])
                if label_column is not None:
                    if label_column not in npz:
                        raise InputError(f"NPZ file {str(path)!r} has no array named {label_column!r}.")
                    frame[label_column] = npz[label_column]
        else:
            raise InputError(
                f"Cannot read {str(path)!r}: the suffix must be .csv, .csv.gz, .parquet or .npz."
            )
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # a truncated .npz is a bad zip
        raise InputError(f"Cannot read {str(path)!r}: {exc}") from exc
    labels = None
    if label_column is not None:
        if label_column not in frame.columns:
            raise InputError(
                f"Label column {label_column!r} is not in {str(path)!r} (columns: {list(frame.columns)[:8]})."
            )
        raw = frame.pop(label_column)
        if raw.isna().any() or not raw.isin([0, 1]).all():
            raise InputError(f"Label column {label_column!r} must hold only 0 and 1.")
        labels = raw.to_numpy().astype(np.int64)
    return frame, labels
