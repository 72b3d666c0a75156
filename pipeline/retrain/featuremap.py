"""Readings -> a model's input matrix, in the retrainer: the derived plant features a plant model reads,
or the raw sensors, and the per-asset references a candidate extends to new assets."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from dhag import DHAG
from pipeline.features import INPUT_SENSORS, PlantFeatures
from pipeline.retrain.samples import Reading
from pipeline.running import running_rows

__all__ = ["FeatureMap"]


class FeatureMap:
    """Readings (asset, values) -> a model's input matrix: derived plant features or raw sensors.

    Readings that lack a sensor the model needs are left out (:meth:`matrix` returns which were kept), and
    for a plant model those of a machine at standstill (:meth:`~pipeline.features.PlantFeatures.standstill`).
    """

    def __init__(self, features: list[str], derived: PlantFeatures | None) -> None:
        self.features = features
        self.derived = derived
        self.inputs = list(derived.inputs) if derived is not None else list(features)

    @classmethod
    def of(cls, model: DHAG) -> FeatureMap:
        """The map a fitted model reads with."""
        return cls(list(model.feature_names_in_), PlantFeatures.from_model(model))

    def matrix(self, rows: Sequence[tuple[str, dict[str, float]]]) -> tuple[np.ndarray, np.ndarray]:
        """``(X, kept)``: the model input of the readings that carry every needed sensor, and a mask."""
        X, kept, still = self.read(rows)
        # A machine at standstill is no model input: the daemon judges it normal whatever it scores,
        # and its readings (every per-unit feature near 0) would teach a candidate, set its threshold,
        # or sway the gate and the drift watch as if the plant ran so.
        if still.any():
            kept[np.flatnonzero(kept)[still]] = False
            X = X[~still]
        return X, kept

    def read(self, rows: Sequence[tuple[str, dict[str, float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, kept, still)``: as :meth:`matrix`, but ``X`` holds the readings at standstill too,
        ``still`` (one per row of ``X``) saying which are (none for a raw-sensor map): what the daemon
        scores, and which of it it judges normal whatever the score."""
        # An alert carries a sensor whose number JSON could not hold as null: missing, like an absent one.
        kept = np.array(
            [all(values.get(name) is not None for name in self.inputs) for _, values in rows], dtype=bool
        )
        raw = np.array(
            [
                [float(values[name]) for name in self.inputs]
                for (_, values), ok in zip(rows, kept, strict=True)
                if ok
            ],
            dtype=float,
        ).reshape(int(kept.sum()), len(self.inputs))
        finite = np.isfinite(raw).all(axis=1)
        if not finite.all():
            kept[np.flatnonzero(kept)[~finite]] = False
            raw = raw[finite]
        if self.derived is None:
            return raw, kept, np.zeros(len(raw), dtype=bool)
        assets = [asset for (asset, _), ok in zip(rows, kept, strict=True) if ok]
        derived = self.derived.transform(raw, assets)
        return derived, kept, self.derived.standstill(derived)

    def running(self, rows: Sequence[Reading]) -> list[Reading]:
        """``rows`` but those a plant model reads at standstill (:meth:`matrix` leaves them out); a
        reading it cannot read stays (it is left out where it is read, for its own reason)."""
        X, kept, still = self.read([(a, v) for a, _, v in rows])
        if not still.any():
            return list(rows)
        stopped = np.zeros(len(rows), dtype=bool)
        stopped[np.flatnonzero(kept)[still]] = True
        return [r for r, out in zip(rows, stopped, strict=True) if not out]

    def referenced(self, normal: Sequence[Reading]) -> set[str] | None:
        """The assets a plant model's :meth:`extended` map holds a reference for: those it knows, and
        those of ``normal`` with a reading of every input sensor taken running (not at standstill);
        None for a raw-sensor map (no references)."""
        if self.derived is None:
            return None
        return set(self.derived.references) | set(_new_references(normal, self.derived.references))

    def extended(self, normal: Sequence[Reading]) -> FeatureMap:
        """The same map with per-asset references for assets of ``normal`` that a plant model has none
        for (assets it knows keep theirs: a reference is a long-run median, which a recent sample of
        one part of the load cycle would bias); a raw-sensor map is returned unchanged."""
        if self.derived is None:
            return self
        if not (new := _new_references(normal, self.derived.references)):
            return self
        references = self.derived.references | new
        return FeatureMap(self.features, PlantFeatures(references, self.derived.input_means))


def _new_references(normal: Sequence[Reading], known: Collection[str]) -> dict[str, list[float]]:
    """The per-unit references of the assets of ``normal`` not in ``known``: the medians of their
    readings with every input sensor, those at standstill left out (speed and power both under
    :data:`~pipeline.features.STANDSTILL_PU` of what the asset reads running, its 90th percentile: the
    median of readings half of them stopped is 0, by which every reading would be divided). An asset
    with no reading of it running gets none."""
    usable = [(a, v) for a, _, v in normal if a not in known and all(s in v for s in INPUT_SENSORS)]
    if not usable:
        return {}
    frame = pd.DataFrame([v for _, v in usable], columns=list(INPUT_SENSORS))
    frame["asset_id"] = [a for a, _ in usable]
    running = running_rows(frame)
    return PlantFeatures.fit(frame[running]).references if running.any() else {}
