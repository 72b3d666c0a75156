"""Model input as the services hand it to a model: the daemon's and the retrainer's matrices are built
in the model's feature order (a record parser's, a feature map's), and :func:`by_name` names each column
with its feature, so that dhag matches them by name. Handed as a bare array to a model fitted on named
columns without ``feature_names`` (every ``dhag train`` model), dhag would take its columns by position
and say so at WARNING once per model: true of a user's own array, false of these, and said on every model
the daemon loads and every retraining run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["by_name"]


def by_name(names: Sequence[str], matrix: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
    """The columns of ``matrix`` (model input: one row per reading, one column per feature in the
    model's order, ``names``: its ``feature_names_in_``) keyed by those names, as views; ``matrix``
    itself when it has another number of columns, which the model refuses as before, naming how many it
    expects.

    >>> from dhag import DHAG
    >>> model = DHAG(max_epochs=1, random_state=0)
    >>> model = model.fit({"flow": np.arange(64.0), "temp": np.ones(64)})
    >>> columns = by_name(model.feature_names_in_, np.array([[3.0, 1.0]]))
    >>> columns
    {'flow': array([3.]), 'temp': array([1.])}
    >>> model.decision_function(columns).tolist() == model.decision_function(
    ...     {"flow": [3.0], "temp": [1.0]}
    ... ).tolist()
    True
    """
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        return matrix
    return dict(zip(names, matrix.T, strict=True))
