"""The dead letter's detail for one reading the model refused to score (``scoring_error``).

The model refuses a batch's rows one at a time (:meth:`pipeline.hotswap.ActiveModel.score`), so its own
words name row 0 of a one-row matrix: neither the record's place in the batch nor its offset (the dead
letter's ``dlq.source.*`` headers give that). The detail names the sensors at fault and their values
instead, and, for a derived plant feature, the raw sensors it comes from: the names the record and the
plant's HMI know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dhag import DHAG, DHAGError, InputError
from pipeline.features import FEATURE_MEANINGS

__all__ = ["refusal_detail"]

FURTHEST = 3  # sensors named for a reading the network overflows on


def refusal_detail(
    model: DHAG,
    features: Sequence[str],
    exc: DHAGError,
    row: np.ndarray,
    values: Mapping[str, Any],
    *,
    derived: bool = False,
) -> str:
    """Why ``model`` could not score a reading: ``row`` (its model input, in ``features`` order) and the
    record's ``values``, refused with ``exc``; ``derived``: the features are a plant model's.

    >>> import numpy as np
    >>> from dhag import DHAG, InputError
    >>> model = DHAG(max_epochs=1, random_state=0).fit(np.random.default_rng(0).normal(size=(64, 2)))
    >>> cell = InputError("Feature 'x1' has 1 value(s) too large ... (first at row 0: ...)", cell=("x1", 0))
    >>> print(refusal_detail(model, ["x0", "x1"], cell, np.array([0.5, 1e300]), {})[39:])
    'x1' = 1e+300 is too large for it (beyond float32 once standardised)
    >>> overflow = InputError("1 row too large for the model to score: the network overflows ...")
    >>> print(refusal_detail(model, ["x0", "x1"], overflow, np.array([-3e38, 2e30]), {})[39:])
    the network overflows float32 on its values; furthest from training: 'x0' = -3e+38, 'x1' = 2e+30
    """
    said = "the model could not score this record"
    if not isinstance(exc, InputError):  # the model's own fault (weights not finite): its words
        return f"{said}: {exc}"
    name = (exc.cell or (None,))[0]
    if name in features:
        value = row[list(features).index(name)]
        shown = _shown(name, value, values, derived=derived)
        return f"{said}: {shown} is too large for it (beyond float32 once standardised)"
    if "overflows" not in str(exc):
        return f"{said}: {exc}"
    far = ", ".join(_shown(n, v, values, derived=derived) for n, v in _furthest(model, features, row))
    return f"{said}: the network overflows float32 on its values; furthest from training: {far}"


def _furthest(model: DHAG, features: Sequence[str], row: np.ndarray) -> list[tuple[str, float]]:
    """The ``FURTHEST`` features of ``row`` furthest from their training means, in training SDs."""
    pre = model.preprocessor_
    spread = []
    for name, value in zip(features, row.tolist(), strict=True):
        if name in pre.means_:
            with np.errstate(over="ignore"):
                spread.append((abs(value - pre.means_[name]) / pre.scales_[name], name, value))
    spread.sort(key=lambda item: -item[0])
    return [(name, value) for _, name, value in spread[:FURTHEST]]


def _shown(name: str, value: float, values: Mapping[str, Any], *, derived: bool) -> str:
    """``'name' = value``, and for a derived plant feature the raw sensors it comes from."""
    shown = f"{name!r} = {value:.6g}"
    if derived and name in FEATURE_MEANINGS:
        held = [
            f"{s} = {v:.6g}" if isinstance(v, int | float) else f"{s} = {v!r}"
            for s in FEATURE_MEANINGS[name][1]
            for v in (values.get(s),)
        ]
        shown = f"{shown} (derived from {', '.join(held)})"
    return shown
