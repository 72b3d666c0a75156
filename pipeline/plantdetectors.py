"""The plant bench's detectors (:mod:`pipeline.plantbench`): each trained on the history, then flagging
any stream reading by reading, and naming sensors the way its alerts would."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.alertevents import imputed_sensors
from pipeline.config import RecordSettings
from pipeline.features import INPUT_SENSORS, PlantFeatures
from pipeline.frozen import FrozenSensors, runs_of
from pipeline.hotswap import bind_model
from pipeline.plantmodel import PLANT_MODEL_SETTINGS, train_plant_model
from pipeline.plantnaming import sensors_named

__all__ = ["BUILDERS", "HST_CALIBRATION_ONE_IN", "PLANT_DETECTORS", "Detector"]

HST_CALIBRATION_ONE_IN = 10  # hst holds out one history row in this many to calibrate its threshold on


# -- detectors: trained on the history, then flag any stream reading by reading ------------------
Flagger = Callable[[pd.DataFrame], np.ndarray]
#: ``(stream, rows, top)`` -> per row (a position in ``stream``), the ``top_sensors`` of an alert opened
#: on it: entries with ``sensor`` and, for a derived feature, the raw sensors it comes from.
Explainer = Callable[[pd.DataFrame, Sequence[int], int], list[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Detector:
    """A trained detector: its flags, and how its alerts name sensors (``explain`` None: they don't).
    ``features`` maps every name an entry can carry to the sensors it names (``sensors_named``)."""

    flag: Flagger
    explain: Explainer | None = None
    features: Mapping[str, Sequence[str]] | None = None
    #: The ``suspect_sensors`` of alerts opened on rows (raw sensors each:
    #: :meth:`~pipeline.hotswap.ActiveModel.suspect_sensors`); None for a detector whose alerts carry none.
    suspects: Explainer | None = None
    #: ``(stream, alerts.frozen_sensor_factor)`` -> by position, the sensors stuck in each reading, as
    #: the daemon judges them (:class:`~pipeline.frozen.FrozenSensors`); None for a detector without.
    stuck: Callable[[pd.DataFrame, float], dict[int, list[dict[str, Any]]]] | None = None


def _dhag_detector(history: pd.DataFrame, seed: int, members: int = 1, **overrides: Any) -> Detector:
    # No time limit here: the benchmark must train the same model on any machine.
    overrides |= {"time_budget": None, "n_members": members}
    model = train_plant_model(history, seed=seed, fleet={"bench": seed}, **overrides)
    features = PlantFeatures.from_model(model)
    assert features is not None
    # The daemon's binding of a model (pipeline.processing.BatchProcessor), for its alerts' top sensors.
    active = bind_model(model, f"bench-{seed}", RecordSettings())
    assert active.derived is not None

    def flag(stream: pd.DataFrame) -> np.ndarray:
        X = features.transform(stream[list(INPUT_SENSORS)].to_numpy(float), stream["asset_id"].tolist())
        return model.decision_function(X) > model.threshold_

    def explain(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        # As the daemon: the record's values in the parser's order, derived features, then the same
        # explanation, with the sensors the record lacked (none in the simulator's readings).
        frame = stream.iloc[list(rows)]
        raw = frame[active.parser.features].to_numpy(float)
        assets = frame["asset_id"].astype(str).tolist()
        values = frame[active.parser.features].to_dict("records")
        imputed = [imputed_sensors(v, active.parser.features) for v in values]
        return active.explain(active.derived.transform(raw, assets), assets, imputed, top=top)

    def suspects(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        frame = stream.iloc[list(rows)]
        values = frame[active.parser.features].to_dict("records")
        imputed = [imputed_sensors(v, active.parser.features) for v in values]
        return active.suspect_sensors(values, frame["asset_id"].astype(str).tolist(), imputed, top=top)

    def stuck(stream: pd.DataFrame, factor: float) -> dict[int, list[dict[str, Any]]]:
        # The stream's readings in time order, as the daemon takes them batch after batch.
        X = features.transform(stream[list(INPUT_SENSORS)].to_numpy(float), stream["asset_id"].tolist())
        values = stream[active.parser.features].to_dict("records")
        assets, stamps = stream["asset_id"].astype(str).tolist(), stream["t"].to_numpy(float).tolist()
        return FrozenSensors(factor).observe(runs_of(model), assets, stamps, values, features.standstill(X))

    every = active.top_sensors([(f, 0.0) for f in active.features], np.zeros(len(active.features)), "")
    return Detector(flag, explain, {e["sensor"]: sensors_named(e) for e in every}, suspects, stuck)


def _sigma3_detector(history: pd.DataFrame, seed: int) -> Detector:
    sensors = list(INPUT_SENSORS)
    stats = history.groupby("asset_id")[sensors].agg(["mean", "std"])

    def deviations(stream: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        mean = stats.xs("mean", axis=1, level=1).loc[stream["asset_id"]].to_numpy()
        std = stats.xs("std", axis=1, level=1).loc[stream["asset_id"]].to_numpy()
        return np.abs(stream[sensors].to_numpy(float) - mean), std

    def flag(stream: pd.DataFrame) -> np.ndarray:
        off, std = deviations(stream)
        return (off > 3 * std).any(axis=1)

    def explain(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        # What a limit alarm tells: the sensors furthest beyond their limits, in standard deviations.
        off, std = deviations(stream.iloc[list(rows)])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = off / std
        order = np.argsort(-np.nan_to_num(z, nan=-np.inf), axis=1, kind="stable")[:, :top]
        return [
            [{"sensor": sensors[c], "contribution": float(zr[c])} for c in cols]
            for zr, cols in zip(z, order, strict=True)
        ]

    return Detector(flag, explain, {s: [s] for s in sensors})


def _hst_detector(history: pd.DataFrame, seed: int) -> Detector:
    from river.anomaly import HalfSpaceTrees

    features = PlantFeatures.fit(history)

    def derive(frame: pd.DataFrame) -> np.ndarray:
        return features.transform(frame[list(INPUT_SENSORS)].to_numpy(float), frame["asset_id"].tolist())

    train = derive(history)
    low, high = train.min(axis=0), train.max(axis=0)
    span = np.where(high > low, high - low, 1.0)

    def rows(X: np.ndarray) -> list[dict[int, float]]:
        scaled = np.clip((X - low) / span, 0.0, 1.0)
        return [dict(enumerate(r)) for r in scaled.tolist()]

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n_cal = len(train) // HST_CALIBRATION_ONE_IN
    hst = HalfSpaceTrees(n_trees=25, height=12, window_size=250, seed=seed)
    for x in rows(train[order[n_cal:]]):
        hst.learn_one(x)
    calibration = np.array([hst.score_one(x) for x in rows(train[order[:n_cal]])])
    threshold = np.quantile(calibration, 1 - PLANT_MODEL_SETTINGS["target_far"])

    def flag(stream: pd.DataFrame) -> np.ndarray:
        # Frozen after training: scoring does not learn, so every stream meets the same trees.
        return np.array([hst.score_one(x) for x in rows(derive(stream))]) > threshold

    return Detector(flag)  # a score over the whole reading: nothing that names a sensor


BUILDERS: dict[str, Callable[[pd.DataFrame, int], Detector]] = {
    "dhag": _dhag_detector,
    "dhag5": functools.partial(_dhag_detector, members=5),
    "dhag-classes": functools.partial(_dhag_detector, ce_weighting="classes"),
    "dhag-snapshots": functools.partial(_dhag_detector, snapshots=10),
    "dhag-reference": functools.partial(_dhag_detector, recipe="reference"),
    "sigma3": _sigma3_detector,
    "hst": _hst_detector,
}
PLANT_DETECTORS = tuple(BUILDERS)
