"""How much operation a plant history shows, and the warning `models train` gives when it is too little.

The plant model flags what lies beyond the operating points its history showed (its shifted-row
anomalies teach it to), so the history's length is the first lever on false alerts: on the simulated
plant a model trained on one day of normal operation raised 1.1 false alerts per asset-day on a new
day, one trained on three days 0.23 with about the same detection (``docs/plant-bench.md``, ``bench plant
--history-hours 72``). A new day visits load points one day did not.

What counts is the operation seen, not the span between the first and last row: a history of a week
sampled for an hour a day shows seven hours. So an asset's *hours covered* are the clock hours
(``t // 3600``) holding at least one of its complete rows, but never more than its rows span (the first
to the last, and one interval between rows more): six hours of rows that do not start on the hour touch
seven clock hours, and cover six.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ADVISED_HOURS", "Coverage", "coverage", "coverage_note"]

# Three days: the history length measured to cut the plant bench's false alerts from 2.0 to 0.3 per
# asset-day (``docs/plant-bench.md``).
ADVISED_HOURS = 72


@dataclass(frozen=True)
class Coverage:
    """The hours covered by the median asset, and the assets covering the fewest (``(asset, hours)``,
    fewest first)."""

    median_hours: float
    fewest: list[tuple[str, float]]


def _covered(t: np.ndarray) -> float:
    """One asset's hours covered: the clock hours its rows fall in, at most the hours they span (first
    to last row, and the median interval between rows once more: the last row's own), to a tenth."""
    t = np.unique(t)
    touched = np.unique(np.floor(t / 3600)).size
    step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return round(min(float(touched), (float(t[-1] - t[0]) + step) / 3600), 1)


def coverage(history: pd.DataFrame) -> Coverage:
    """The hours each asset's rows cover (``asset_id`` and ``t`` in epoch seconds).

    >>> frame = pd.DataFrame({"asset_id": ["a"] * 4 + ["b"] * 2, "t": [0, 1800, 3600, 7200, 0, 86_400 * 3]})
    >>> coverage(frame)
    Coverage(median_hours=2.25, fewest=[('b', 2.0), ('a', 2.5)])
    >>> six = pd.DataFrame({"asset_id": "p", "t": np.arange(30, 6 * 3600 + 1, 30.0)})  # 30 s ... 6 h
    >>> coverage(six).median_hours
    6.0
    """
    t = history["t"].to_numpy(dtype=float)
    hours = {str(a): _covered(t[rows]) for a, rows in history.groupby("asset_id", sort=True).indices.items()}
    ordered = sorted(hours.items(), key=lambda pair: (pair[1], pair[0]))
    return Coverage(float(np.median(list(hours.values()))), ordered)


def coverage_note(history: pd.DataFrame, advised: int = ADVISED_HOURS) -> str | None:
    """A warning when the median asset's history covers fewer than ``advised`` hours, else None.

    >>> day = pd.DataFrame({"asset_id": ["p1"] * 48, "t": np.arange(48) * 1800.0})
    >>> print(coverage_note(day))  # doctest: +NORMALIZE_WHITESPACE
    the history covers 24 hours of operation of the median asset (the fewest: p1 24): a model trained on
    one day of normal operation raised about 1.1 false alerts per asset-day on the simulated plant, on
    three days 0.2 (docs/plant-bench.md); train on at least 72 hours of each asset's normal operation,
    a week or more where the load follows the working week
    >>> coverage_note(pd.DataFrame({"asset_id": ["p1"] * 80, "t": np.arange(80) * 3600.0})) is None
    True
    """
    if history.empty:
        return None
    seen = coverage(history)
    if seen.median_hours >= advised:
        return None
    fewest = ", ".join(f"{asset} {hours:g}" for asset, hours in seen.fewest[:3])
    return (
        f"the history covers {seen.median_hours:g} hours of operation of the median asset (the fewest: "
        f"{fewest}): a model trained "
        "on one day of normal operation raised about 1.1 false alerts per asset-day on the simulated plant, "
        f"on three days 0.2 (docs/plant-bench.md); train on at least {advised} hours of each asset's "
        "normal operation, a week or more where the load follows the working week"
    )
