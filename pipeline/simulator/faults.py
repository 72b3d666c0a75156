"""Faults with ground truth: the kinds, their schedule, and what each does to physics or to a sensor.

Process faults change the physics (:class:`~pipeline.simulator.physics.Effects`), so every coupled
sensor moves as it physically would. Sensor faults change one reading after measurement. Each fault has
an onset, a duration and a severity in (0, 1]; gradual ones ramp up over their first part.

``efficiency_loss`` is the in-range fault: the machine draws about 10 % more power (and current) than
the affinity laws give for its speed and flow, while every sensor stays inside its normal range.

A plant event (:data:`PLANT_EVENT_KINDS`) has one cause outside the machines, shared by every asset it
hits from the same moment (:meth:`~pipeline.simulator.fleet.Fleet.add_plant_event`); it is never drawn
at random. ``cooling_water``: the cooling water runs 8 deg C warm, so every cooled temperature (bearing,
winding, compressor discharge) settles that much higher, each with its own thermal lag (minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipeline.simulator.physics import Effects

__all__ = [
    "FAULT_KINDS",
    "IN_RANGE_FAULTS",
    "PLANT_EVENT_KINDS",
    "SENSOR_FAULTS",
    "Fault",
    "SensorFaultState",
    "applicable_kinds",
    "process_effects",
    "schedule_faults",
]

FAULT_KINDS = (
    "bearing_wear",
    "cavitation",
    "seal_leak",
    "motor_overload",
    "efficiency_loss",
    "sensor_stuck",
    "sensor_drift",
    "sensor_spikes",
)
SENSOR_FAULTS = ("sensor_stuck", "sensor_drift", "sensor_spikes")
PLANT_EVENT_KINDS = ("cooling_water",)
IN_RANGE_FAULTS = ("efficiency_loss",)
_PUMP_ONLY = ("cavitation", "seal_leak")
# Sensors a sensor fault may hit: the ones whose relations to the others the physics fixes.
_FAULTY_SENSORS = ("speed_rpm", "flow_m3h", "discharge_pressure_bar", "motor_power_kw", "bearing_temp_c")
# Share of the duration over which a fault grows to full severity (1/duration-ish = at once).
_RAMP = {"bearing_wear": 0.4, "sensor_drift": 1.0, "efficiency_loss": 0.1, "seal_leak": 0.1}


@dataclass(frozen=True)
class Fault:
    """One injected fault: on asset ``asset`` (index) from ``onset`` for ``duration`` simulated seconds."""

    asset: int
    asset_id: str
    kind: str
    onset: float
    duration: float
    severity: float
    sensor: str | None = None
    direction: float = 1.0

    @property
    def end(self) -> float:
        """Simulated time the fault ends."""
        return self.onset + self.duration

    def active(self, t: float) -> bool:
        """True while the fault is under way at simulated time ``t``."""
        return self.onset <= t < self.end

    def progress(self, t: float) -> float:
        """0 before onset, then up to 1 over the ramp (a fault without ramp is at 1 within 20 s)."""
        ramp = max(20.0, _RAMP.get(self.kind, 0.0) * self.duration)
        return float(np.clip((t - self.onset) / ramp, 0.0, 1.0))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def applicable_kinds(machine_type: str) -> tuple[str, ...]:
    """The fault kinds that exist for a machine type (cavitation and seal leaks are pump faults)."""
    if machine_type == "pump":
        return FAULT_KINDS
    return tuple(k for k in FAULT_KINDS if k not in _PUMP_ONLY)


def schedule_faults(
    asset_ids: Sequence[str],
    machine_types: Sequence[str],
    rng: np.random.Generator,
    *,
    start: float,
    end: float,
    rate_per_hour: float,
    duration_s: tuple[float, float] = (300.0, 900.0),
    first_after_s: float = 120.0,
    min_gap_s: float = 600.0,
    kinds: Sequence[str] | None = None,
) -> list[Fault]:
    """Random, non-overlapping faults per asset: a Poisson process of ``rate_per_hour`` per asset.

    ``kinds`` limits the kinds drawn from (each asset draws only kinds applicable to its type).
    """
    faults: list[Fault] = []
    if rate_per_hour <= 0:
        return faults
    for i, (asset, mtype) in enumerate(zip(asset_ids, machine_types, strict=True)):
        allowed = [k for k in applicable_kinds(mtype) if kinds is None or k in kinds]
        t = start + first_after_s
        while allowed:
            onset = t + rng.exponential(3600.0 / rate_per_hour)
            duration = float(rng.uniform(*duration_s))
            if onset + duration > end:
                break
            faults.append(make_fault(i, asset, str(rng.choice(allowed)), onset, duration, rng))
            t = onset + duration + min_gap_s
    return sorted(faults, key=lambda f: f.onset)


def make_fault(
    asset: int, asset_id: str, kind: str, onset: float, duration: float, rng: np.random.Generator
) -> Fault:
    """A fault of ``kind`` with a random severity in [0.6, 1] (and a random sensor for sensor faults)."""
    sensor = str(rng.choice(_FAULTY_SENSORS)) if kind in SENSOR_FAULTS else None
    severity, direction = float(rng.uniform(0.6, 1.0)), float(rng.choice([-1.0, 1.0]))
    return Fault(asset, asset_id, kind, float(onset), float(duration), severity, sensor, direction)


def process_effects(n_assets: int, faults: Sequence[Fault], t: float, rng: np.random.Generator) -> Effects:
    """The physics multipliers of the process faults active at ``t``."""
    fx = Effects(n_assets)
    for f in faults:
        if not f.active(t) or f.kind in SENSOR_FAULTS:
            continue
        a, s = f.asset, f.severity * f.progress(t)
        if f.kind == "bearing_wear":
            fx.vibration[a] *= 1 + 1.5 * s
            fx.bearing_heat[a] += 14 * s
        elif f.kind == "cavitation":
            fx.suction_drop[a] += 0.25 * s
            fx.flow[a] *= 1 - 0.15 * s
            fx.head[a] *= 1 - 0.08 * s
            fx.power[a] *= 1 - 0.05 * s
            burst = rng.random() < 0.5
            fx.vibration[a] *= 1 + s * (0.4 + (rng.uniform(1.0, 2.5) if burst else 0.0))
        elif f.kind == "seal_leak":
            # Recirculation through a worn seal: the pump works on flow that never reaches the meter.
            fx.flow[a] *= 1 - 0.14 * s
            fx.head[a] *= 1 - 0.03 * s
            fx.power[a] *= 1 + 0.06 * s
        elif f.kind == "motor_overload":
            fx.power[a] *= 1 + 0.35 * s
            fx.current[a] *= 1 + 0.05 * s
            fx.vibration[a] *= 1 + 0.2 * s
        elif f.kind == "efficiency_loss":
            fx.power[a] *= 1 + 0.1 * s
        elif f.kind == "cooling_water":
            fx.coolant_heat[a] += 8 * s
    return fx


class SensorFaultState:
    """Applies the active sensor faults to measured readings (stuck values are remembered here)."""

    def __init__(self) -> None:
        self._stuck: dict[tuple[int, float], float] = {}

    def apply(
        self,
        readings: dict[str, np.ndarray],
        faults: Sequence[Fault],
        t: float,
        rng: np.random.Generator,
    ) -> None:
        """Modify ``readings`` (sensor -> per-asset array) in place."""
        for f in faults:
            if f.kind not in SENSOR_FAULTS or not f.active(t) or f.sensor not in readings:
                continue
            values, a = readings[f.sensor], f.asset
            if f.kind == "sensor_stuck":
                values[a] = self._stuck.setdefault((a, f.onset), float(values[a]))
            elif f.kind == "sensor_drift":
                values[a] *= 1 + 0.12 * f.severity * f.progress(t) * f.direction
            elif rng.random() < 0.6:
                values[a] *= 1 + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.5) * f.severity
