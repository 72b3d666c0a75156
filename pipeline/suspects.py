"""An alert's ``suspect_sensors``: which single raw sensor, read differently, makes the opening reading
look most normal to the model (:meth:`pipeline.hotswap.ActiveModel.suspect_sensors`).

For each raw input sensor of a reading (the raw inputs of derived features, else the model's
features) copies of the reading try candidate values (:func:`candidates`) for that sensor alone, the
others unchanged; the copies go through the derived features exactly as the daemon computes them (with
the reading's asset) and the model scores them, the copies of up to :data:`SUSPECT_READINGS` readings
in one call (rows x sensors x at most 123 candidates), with the network's logit from the same pass
(:meth:`~pipeline.hotswap.ActiveModel.scores_and_logits`).

Ranking: by the lowest logit one of a sensor's candidates reached, ascending. The score is the
sigmoid of the logit, so this is the order of the lowest score, except where the score saturates: a
gross fault scores exactly 1.0 and often keeps 1.0 whichever one sensor changes (another derived
feature is still far out, or no candidate reaches the asset's normal range), while the logit still
falls as the reading moves towards normal, and so still names the sensor whose change moves it
furthest. A sensor whose best candidate does not lower the reading's own logit is not named (a reading
no single change moves towards normal names nothing). Equal lowest logits: the sensor that needed the
smaller change, relative to ``max(|v|, |m|)``, first. An imputed sensor is never named (its value is a
stand-in), nor one without a training mean.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.hotswap import ActiveModel

__all__ = ["SUSPECT_READINGS", "candidates", "suspect_sensors"]

# Readings whose copies go to the model together: a plant-wide event opens an alert on every asset in
# one batch, and each reading brings up to 123 copies per sensor (64 readings of 30 sensors: about
# 236,000 rows, some tens of MB), so memory stays bounded however many alerts open at once.
SUSPECT_READINGS = 64


def suspect_sensors(
    active: ActiveModel,
    values: Sequence[Mapping[str, Any]],
    asset_ids: Sequence[str],
    imputed: Sequence[Collection[str]],
    *,
    top: int,
) -> list[list[dict[str, Any]]]:
    """Per reading, at most ``top`` suspects ranked as the module says, each ``sensor``, ``value`` (the
    reading's), ``typical_value`` (the candidate with the lowest logit), ``score_if_typical`` (that
    candidate's score: 1.0 where the reading stays saturated) and ``imputed`` (always False, kept for
    consoles that mark stand-ins). ``values``: the readings as parsed (raw sensor -> number), with
    their asset ids and ``imputed`` sensors, for which the daemon's stand-in does (the training mean;
    for a plant model the asset's own reading, :meth:`~pipeline.features.PlantFeatures.impute`)."""
    if len(values) > SUSPECT_READINGS:
        return [
            entries
            for start in range(0, len(values), SUSPECT_READINGS)
            for entries in suspect_sensors(
                active,
                values[start : start + SUSPECT_READINGS],
                asset_ids[start : start + SUSPECT_READINGS],
                imputed[start : start + SUSPECT_READINGS],
                top=top,
            )
        ]
    if not values:
        return []
    inputs = active.inputs
    means = active.derived.input_means if active.derived is not None else active.means
    raw = np.array(
        [
            [
                means.get(name, math.nan) if name in missing else float(row.get(name, math.nan))
                for name in inputs
            ]
            for row, missing in zip(values, imputed, strict=True)
        ],
        dtype=float,
    )
    if active.derived is not None and any(imputed):  # what the daemon scored (PlantFeatures.impute)
        missing = np.array([[name in m for name in inputs] for m in imputed], dtype=bool)
        raw = active.derived.impute(raw, asset_ids[: len(values)], missing)
    plans: list[tuple[int, int, np.ndarray]] = []  # (reading, sensor column, candidates)
    blocks = [raw]  # the readings themselves first: their own logits
    for j, missing in enumerate(imputed):
        for col, name in enumerate(inputs):
            v, m = raw[j, col], means.get(name)
            if name in missing or m is None or not (math.isfinite(v) and math.isfinite(m)):
                continue
            tried = candidates(float(v), float(m))
            copies = np.repeat(raw[j : j + 1], len(tried), axis=0)
            copies[:, col] = tried
            plans.append((j, col, tried))
            blocks.append(copies)
    copies = np.concatenate(blocks)
    if not np.isfinite(copies).all():  # a reading the daemon could not have scored: nothing to say
        return [[] for _ in values]
    repeated = list(asset_ids[: len(values)])
    repeated += [asset_ids[j] for j, _, tried in plans for _ in range(len(tried))]
    matrix = active.derived.transform(copies, repeated) if active.derived is not None else copies
    scores, logits, refused = active.scores_and_logits(matrix)
    if refused:  # a candidate the network overflows on is no way to normal
        logits[list(refused)] = math.inf
    own, at = logits[: len(values)], len(values)
    found: list[list[tuple[float, float, dict[str, Any]]]] = [[] for _ in values]
    for j, col, tried in plans:
        block = logits[at : at + len(tried)]
        best = int(np.argmin(block))
        score = float(scores[at + best])
        at += len(tried)
        if not block[best] < own[j]:
            continue
        v, m = float(raw[j, col]), float(means[inputs[col]])
        change = abs(float(tried[best]) - v) / (max(abs(v), abs(m)) or 1.0)
        entry = {
            "sensor": inputs[col],
            "value": v,
            "typical_value": float(tried[best]),
            "score_if_typical": score,
            "imputed": False,
        }
        found[j].append((float(block[best]), change, entry))
    return [[e for _, _, e in sorted(entries, key=lambda t: t[:2])[:top]] for entries in found]


def candidates(value: float, mean: float) -> np.ndarray:
    """The values tried for a sensor that read ``value`` and averaged ``mean`` in training (``input_means``
    of a plant model, the preprocessor's mean of a plain one), without repeats, ascending:

    * ``value`` scaled by 0.50, 0.51, ... 1.50 (101 values): the sensor reading up to half off, at the
      asset's own scale (a fleet's fans and pumps differ by orders of magnitude, which the fleet's
      mean cannot tell);
    * 21 evenly spaced values from ``min(value, mean) - w`` to ``max(value, mean) + w``, ``w =
      max(|value - mean|, |mean|) / 2``, and ``mean`` itself: the way back to what training saw, for
      a reading no scaling reaches (a sensor stuck at 0, a spike of the wrong sign), and beyond it on
      both sides.

    >>> candidates(0.0, 10.0)[[0, -1]].tolist(), bool(10.0 in candidates(0.0, 10.0))
    ([-5.0, 15.0], True)
    >>> len(candidates(0.0, 0.0)), len(candidates(-4.0, 0.0)) <= 123
    (1, True)
    """
    low, high = min(value, mean), max(value, mean)
    widen = max(high - low, abs(mean)) / 2
    scaled = value * np.linspace(0.5, 1.5, 101)
    spanned = np.linspace(low - widen, high + widen, 21)
    return np.unique(np.concatenate([scaled, spanned, [mean]]))
