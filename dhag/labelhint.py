"""A column of a training file that reads like the label of its rows, trained on as a feature.

A file that marks its known anomalies in a column (``outlier``, ``is_anomaly``, ``label``) and is
trained on without ``--label-column`` gives that column to the model as one more sensor: it then flags
the rows marked 1 for the mark, and a scored file without the column is refused as missing a feature.
Such a column is only told by its name and its values, so ``dhag train`` warns and trains on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from dhag.infotext import suggested_option

__all__ = ["label_like_columns", "label_like_warning"]

# Names (lower case, without separators) that files use for a row's label.
_LABEL_NAMES = frozenset(
    {
        "label",
        "labels",
        "y",
        "target",
        "class",
        "outlier",
        "outliers",
        "isoutlier",
        "anomaly",
        "anomalies",
        "anomalous",
        "isanomaly",
        "isanomalous",
        "anomalylabel",
        "groundtruth",
        "fault",
        "isfault",
        "attack",
    }
)


def _label_name(name: object) -> bool:
    return re.sub(r"[^0-9a-z]", "", str(name).lower()) in _LABEL_NAMES


def label_like_columns(frame: pd.DataFrame, declared: Iterable[str] = ()) -> list[str]:
    """The columns of ``frame`` named as a label is and holding only 0 and 1 (or True and False), both
    present, leaving out the ``declared`` ones (features a user named on purpose).

    >>> frame = pd.DataFrame({"flow": [1.5, 2.0], "Is_Anomaly": [0, 1], "valve": [0, 1], "class": [1, 3]})
    >>> label_like_columns(frame)
    ['Is_Anomaly']
    >>> label_like_columns(frame, declared=["Is_Anomaly"])
    []
    """
    skipped = {str(n) for n in declared}
    found = []
    for name in frame.columns:
        if str(name) in skipped or not _label_name(name):
            continue
        column = frame[name]
        if column.dtype == bool:
            values = column.to_numpy()
        elif pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=float)
        else:
            continue
        if np.isin(values, (0, 1)).all() and len(np.unique(values)) == 2:
            found.append(str(name))
    return found


def label_like_warning(name: str) -> str:
    """What ``dhag train`` says of one such column.

    >>> label_like_warning("outlier")[:60]
    "column 'outlier' holds only 0 and 1 and is named as a label "
    """
    return (
        f"column {name!r} holds only 0 and 1 and is named as a label is, but is trained on as a feature: "
        f"the model will flag the rows marked 1 for the mark, and scoring will need the column. If it marks "
        f"known anomalies, train with {suggested_option('--label-column', name)}; if it is a 0/1 signal of "
        f"the machine, {suggested_option('--passthrough', name)} keeps it as it is and silences this warning"
    )
