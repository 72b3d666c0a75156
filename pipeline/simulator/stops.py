"""Scheduled stops of the simulated plant: a machine switched off for a while and started again.

A stop is no fault: the operators stop a standby pump, a compressor run on demand or a machine for a
planned job. While stopped, the machine's motor is off (:meth:`~pipeline.simulator.physics.PlantPhysics.step`
takes the mask of the stopped ones); started again it runs cold until its temperatures have warmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Stop", "stopped_at"]


@dataclass(frozen=True)
class Stop:
    """Asset ``asset`` (index) switched off from ``start`` until ``end`` (simulated seconds)."""

    asset: int
    asset_id: str
    start: float
    end: float

    def active(self, t: float) -> bool:
        """True while the machine is stopped at simulated time ``t``."""
        return self.start <= t < self.end


def stopped_at(stops: Sequence[Stop], n_assets: int, t: float) -> np.ndarray:
    """Per asset, whether one of ``stops`` holds it stopped at ``t``.

    >>> stopped_at([Stop(1, "fan-01", 60.0, 120.0)], 3, 90.0).tolist()
    [False, True, False]
    """
    stopped = np.zeros(n_assets, dtype=bool)
    for s in stops:
        if s.active(t):
            stopped[s.asset] = True
    return stopped
