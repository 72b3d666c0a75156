"""Data for the retrainer's tests: settings that train in seconds, readings and labelled readings."""

from __future__ import annotations

import numpy as np
from plant_data import FEATURES

from pipeline.config import RetrainSettings
from pipeline.labelstore import LabelledReading

SETTINGS = RetrainSettings(device="cpu", max_epochs=15, time_budget_s=30, min_normal_rows=100, seed=0)


def _readings(rows: np.ndarray, t0: float, asset: str = "p1") -> list[tuple[str, float, dict[str, float]]]:
    return [(asset, t0 + i, dict(zip(FEATURES, map(float, r), strict=True))) for i, r in enumerate(rows)]


def _labelled(rows: np.ndarray, y: int, t0: float, first_id: int = 1) -> list[LabelledReading]:
    return [
        LabelledReading(f"alert:{y}-{i}", f"{y}-{i}", asset, ts, values, y, "kim", ts, first_id + i)
        for i, (asset, ts, values) in enumerate(_readings(rows, t0))
    ]
