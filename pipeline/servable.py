"""Whether a loaded model can be served: every path that puts a version in service (the daemon's start,
its hot swap, ``models promote`` and ``rollback``, the retrainer's parent) loads it through
:func:`pipeline.registry.load_version`, which asks this. A file can pass every artifact check (format,
checksum, shapes) and still hold NaN weights: such a model never alerts; or, edited with its checksum
rewritten where no signing key is set, a derived-feature spec that cannot feed it. dhag refuses to save
or load a model whose threshold lies outside [0, 1]; a model in memory is checked for that here too.
"""

from __future__ import annotations

import math

import numpy as np

from dhag import DHAG, DHAGError
from pipeline.errors import VersionUnreadableError
from pipeline.features import PlantFeatures
from pipeline.modelinput import by_name

__all__ = ["check_servable"]


def check_servable(model: DHAG, version: str) -> DHAG:
    """``model`` when its derived-feature spec, if any, is whole, its threshold is in [0, 1] and it scores
    a row of its own training means to a finite score in [0, 1] (which runs preprocessing and every
    network layer once); else raises :class:`~pipeline.errors.VersionUnreadableError` (``damaged``)
    naming the version and the fault."""
    try:
        PlantFeatures.from_model(model)
    except ValueError as exc:
        raise VersionUnreadableError(f"Model version {version!r} cannot be fed: {exc}", "damaged") from None
    threshold = float(model.threshold_)
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise VersionUnreadableError(
            f"Model version {version!r} has threshold {threshold}; it must be in [0, 1].", "damaged"
        )
    means = model.preprocessor_.means_
    row = np.array([[means.get(name, 0.0) for name in model.feature_names_in_]], dtype=float)
    try:
        score = float(model.decision_function(by_name(model.feature_names_in_, row))[0])
    except (DHAGError, RuntimeError, ValueError) as exc:
        if isinstance(exc, RuntimeError) and not isinstance(exc, DHAGError) and str(model.device_) != "cpu":
            raise  # the device's (out of memory, gone), not the version's: a rollback does not pass it over
        raise VersionUnreadableError(f"Model version {version!r} fails to score: {exc}", "damaged") from None
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise VersionUnreadableError(
            f"Model version {version!r} scores its training means as {score}; a score must be in [0, 1].",
            "damaged",
        )
    return model
