"""Synthetic plant data for the tests: four sensors with one physical relation, and kinds of anomaly.

``flow_total`` is ``flow_a + flow_b`` plus a little noise; ``vibration`` is independent. Anomalies are
rows that break the relation while every sensor stays in its normal range, gross outliers (one sensor
6 to 9 standard deviations off), and a tight cluster (one fault type seen again and again).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu

FEATURES = ["flow_a", "flow_b", "flow_total", "vibration"]


def normal(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` normal rows, shape (n, 4)."""
    flow_a, flow_b, vibration = rng.normal(size=(3, n))
    flow_total = flow_a + flow_b + 0.1 * rng.normal(size=n)
    return np.column_stack([flow_a, flow_b, flow_total, vibration])


def relation_broken(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rows whose ``flow_total`` has its normal spread but the wrong sign of the relation."""
    rows = normal(rng, n)
    rows[:, 2] = -(rows[:, 0] + rows[:, 1])
    return rows


def gross_outliers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal rows with one random sensor pushed 6 to 9 standard deviations up or down."""
    rows = normal(rng, n)
    sensor = rng.integers(0, rows.shape[1], n)
    rows[np.arange(n), sensor] += rng.choice([-1.0, 1.0], n) * rng.uniform(6.0, 9.0, n)
    return rows


def fault_cluster(rng: np.random.Generator, n: int) -> np.ndarray:
    """One recurring fault: a tight cluster inside the sensors' ranges that breaks the relation."""
    return np.array([1.5, -1.5, 1.5, 0.5]) + 0.2 * rng.normal(size=(n, 4))


def near_float32_limit(model: Any) -> tuple[np.ndarray, tuple[np.ndarray, int]]:
    """Raw rows of values near float32's limit, of opposite signs, for a model fitted on ``FEATURES``:
    one the network overflows on (inf - inf in its first layer), and one it scores with a feature
    that, reset to its training mean, leaves a row it overflows on (with that feature's index)."""
    pre = model.preprocessor_
    rng = np.random.default_rng(2)
    z = rng.choice([-1.0, 1.0], size=(20000, len(FEATURES))) * rng.uniform(0.05, 1.0, size=(20000, 4))
    raw = np.column_stack([pre.means_[n] + z[:, i] * 3.4e38 * pre.scales_[n] for i, n in enumerate(FEATURES)])
    matrix = model.transform(raw)
    scored = np.isfinite(model.net_.anomaly_scores(matrix))
    for j in range(len(FEATURES)):
        reset = matrix.copy()
        reset[:, j] = pre.baseline()[j]
        hits = np.flatnonzero(scored & ~np.isfinite(model.net_.anomaly_scores(reset)))
        if hits.size and not scored.all():
            return raw[np.flatnonzero(~scored)[0]], (raw[hits[0]], j)
    raise AssertionError("this model scores every such row and its resets: the case does not occur")


def auroc(normal_scores: np.ndarray, anomaly_scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance that an anomaly outscores a normal row (ties count half)."""
    u = mannwhitneyu(anomaly_scores, normal_scores).statistic
    return float(u / (len(anomaly_scores) * len(normal_scores)))
