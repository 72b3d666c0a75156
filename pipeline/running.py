"""Which readings of a history were taken with the machine running, told without a per-unit reference.

A plant model's per-unit reference of an asset is a median of its readings, and its standstill rule
(:meth:`~pipeline.features.PlantFeatures.standstill`) is a share of that reference. A machine stopped
more than half of the time (a standby pump of a duty/standby pair, a compressor run on demand) has a
median speed and power of 0, so its reference must come from its running readings first. Here a reading
is running when its speed or its power reaches :data:`~pipeline.features.STANDSTILL_PU` of what the asset
reads in its busiest tenth (its 90th percentile): the rule the standstill one applies to a median, on a
level that stops do not pull down until the machine ran less than a tenth of the time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.features import STANDSTILL_PU

__all__ = ["running_rows"]


def running_rows(frame: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame`` (an ``asset_id`` column and the ``speed_rpm`` and ``motor_power_kw``
    sensors): whether its machine ran, its speed or its power at least :data:`STANDSTILL_PU` of the
    asset's 90th percentile of it. An asset that never ran has no row running.

    >>> frame = pd.DataFrame({"asset_id": ["a"] * 5 + ["b"] * 2, "speed_rpm": [0, 0, 0, 1480, 1500, 0, 0],
    ...                       "motor_power_kw": [0, 0.1, 0, 50, 52, 0, 0]})
    >>> running_rows(frame).tolist()
    [False, False, False, True, True, False, False]
    """
    running = np.zeros(len(frame), dtype=bool)
    for sensor in ("speed_rpm", "motor_power_kw"):
        level = STANDSTILL_PU * frame.groupby("asset_id")[sensor].transform("quantile", 0.9).to_numpy(float)
        running |= (level > 0) & (frame[sensor].abs().to_numpy(float) >= level)
    return running
