"""A fleet of simulated assets: physics plus faults plus measurement (noise and quantisation).

Deterministic: the same seed gives the same nameplates, the same readings and the same faults. The
plant, the measurement noise and the fault schedule draw from separate streams of the seed, so adding
faults does not change the normal behaviour underneath them, and stopping a machine
(:meth:`Fleet.add_stop`) changes the readings of that machine only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.simulator.faults import (
    PLANT_EVENT_KINDS,
    Fault,
    SensorFaultState,
    process_effects,
    schedule_faults,
)
from pipeline.simulator.physics import LAGGED_SENSORS, MACHINE_TYPES, PlantPhysics, make_nameplates
from pipeline.simulator.stops import Stop, stopped_at

__all__ = ["DEFAULT_TYPES", "RECOVERY_NOISE_SDS", "Fleet"]

DEFAULT_TYPES = ("pump", "fan", "compressor")

# sensor -> (relative noise sd, absolute noise sd, quantisation step of the transmitter)
_MEASUREMENT = {
    "speed_rpm": (0.001, 0.0, 1.0),
    "flow_m3h": (0.006, 0.0, 0.1),
    "suction_pressure_bar": (0.0005, 0.0, 0.0001),
    "discharge_pressure_bar": (0.0005, 0.0, 0.0001),
    "motor_current_a": (0.006, 0.0, 0.1),
    "motor_power_kw": (0.006, 0.0, 0.1),
    "vibration_mm_s": (0.03, 0.0, 0.01),
    "bearing_temp_c": (0.0, 0.15, 0.1),
    "winding_temp_c": (0.0, 0.2, 0.1),
    "ambient_temp_c": (0.0, 0.1, 0.1),
    "valve_position_pct": (0.0, 0.2, 0.1),
    "discharge_temp_c": (0.0, 0.3, 0.1),
    "oil_pressure_bar": (0.004, 0.0, 0.01),
}

# A fault is over for the ground truth when its cause has ended and every temperature the asset measures
# is back within this many standard deviations of the sensor's noise of its fault-free value: less than
# that cannot be told from noise in one reading, more is a real after-effect (a bearing still hot).
RECOVERY_NOISE_SDS = 3.0


class Fleet:
    """``n_assets`` assets of ``types`` (assigned in turn), named ``<type>-<nn>``.

    ``seed`` decides the plant (its assets and their nameplates); ``run`` decides the operation, noise
    and faults it goes through, so a training history (run 0) and a live stream (run 1) come from the
    same machines without repeating the same readings.

    Example
    -------
    >>> fleet = Fleet(3, seed=1)
    >>> fleet.asset_ids
    ['pump-01', 'fan-01', 'compressor-01']
    >>> t, readings = fleet.step(1.0)
    >>> asset, values = fleet.records(readings)[0]
    >>> asset, sorted(values)[:3]
    ('pump-01', ['ambient_temp_c', 'bearing_temp_c', 'discharge_pressure_bar'])
    """

    def __init__(
        self,
        n_assets: int = 24,
        *,
        types: Sequence[str] = DEFAULT_TYPES,
        seed: int = 0,
        run: int = 0,
        start_s: float = 0.0,
    ) -> None:
        unknown = [t for t in types if t not in MACHINE_TYPES]
        if n_assets < 1 or not types or unknown:
            raise ValueError(
                f"A fleet needs n_assets >= 1 and machine types from {sorted(MACHINE_TYPES)}. "
                f"Got {n_assets} assets of {list(types)}."
            )
        # ``seed`` fixes the plant (which assets, their nameplates); ``run`` the day it lives through.
        plate_rng = np.random.default_rng(np.random.SeedSequence(seed))
        plant_seed, noise_seed, fault_seed = np.random.SeedSequence([seed, run]).spawn(3)
        self.machine_types = [types[i % len(types)] for i in range(n_assets)]
        counts: dict[str, int] = {}
        self.asset_ids = []
        for mtype in self.machine_types:
            counts[mtype] = counts.get(mtype, 0) + 1
            self.asset_ids.append(f"{mtype}-{counts[mtype]:02d}")
        self.plates = make_nameplates(self.machine_types, plate_rng)
        self.physics = PlantPhysics(self.plates, np.random.default_rng(plant_seed), start_s=start_s)
        self.noise_rng = np.random.default_rng(noise_seed)
        self.fault_rng = np.random.default_rng(fault_seed)
        self.faults: list[Fault] = []
        self._sensor_faults = SensorFaultState()
        self._sensors = [MACHINE_TYPES[t].sensors for t in self.machine_types]
        #: Per asset: no fault under way, but a temperature it measures is still off its fault-free value
        #: by more than :data:`RECOVERY_NOISE_SDS` times the sensor's noise (a bearing cooling down).
        self.recovering = np.zeros(n_assets, dtype=bool)
        #: Per asset: a temperature it measures is off its fault-free value (with or without a fault now).
        self.after_effect = np.zeros(n_assets, dtype=bool)
        self.stops: list[Stop] = []
        #: Per asset: switched off by one of :attr:`stops` (a stop is no fault).
        self.standstill = np.zeros(n_assets, dtype=bool)
        #: Per asset: started after a stop, and a temperature it measures still more than
        #: :data:`RECOVERY_NOISE_SDS` times the sensor's noise under what it settles at running (cold).
        self.warming = np.zeros(n_assets, dtype=bool)
        # Per lagged temperature sensor, which assets measure it and the excess that counts as off.
        self._off_limits = {
            name: (np.array([name in sensors for sensors in self._sensors]), RECOVERY_NOISE_SDS * noise)
            for name, (_, noise, _) in _MEASUREMENT.items()
            if name in LAGGED_SENSORS
        }

    @property
    def t(self) -> float:
        """Simulated time in seconds."""
        return self.physics.t

    def schedule(
        self, *, until: float, rate_per_hour: float, start: float | None = None, **options: Any
    ) -> list[Fault]:
        """Draw random faults from ``start`` (default: now) until simulated time ``until``; they are
        added to :attr:`faults`."""
        new = schedule_faults(
            self.asset_ids,
            self.machine_types,
            self.fault_rng,
            start=self.t if start is None else start,
            end=until,
            rate_per_hour=rate_per_hour,
            **options,
        )
        self.faults = sorted(self.faults + new, key=lambda f: f.onset)
        return new

    def add_plant_event(
        self, kind: str, *, onset: float, duration: float, types: Sequence[str] | None = None
    ) -> list[Fault]:
        """One shared cause (a kind of :data:`~pipeline.simulator.faults.PLANT_EVENT_KINDS`) hitting every
        asset, or every asset of the machine ``types`` given, from ``onset`` for ``duration`` simulated
        seconds, at full severity. It enters :attr:`faults` and the ground truth as one fault per asset
        hit, all with the same onset and end.

        Example
        -------
        >>> fleet = Fleet(3, seed=1)
        >>> hit = fleet.add_plant_event("cooling_water", onset=60, duration=300)
        >>> [(f.asset_id, f.onset, f.end) for f in hit]
        [('pump-01', 60.0, 360.0), ('fan-01', 60.0, 360.0), ('compressor-01', 60.0, 360.0)]
        >>> fans = fleet.add_plant_event("cooling_water", onset=600, duration=60, types=["fan"])
        >>> [f.asset_id for f in fans]
        ['fan-01']
        """
        present = list(dict.fromkeys(self.machine_types))
        hit_types = present if types is None else list(types)
        problems = []
        if kind not in PLANT_EVENT_KINDS:
            problems.append(f"kind must be one of {', '.join(PLANT_EVENT_KINDS)}, got {kind!r}")
        if not (np.isfinite(onset) and np.isfinite(duration) and duration > 0):
            problems.append(f"onset must be a time and duration above 0, got {onset:g}, {duration:g}")
        if not hit_types or set(hit_types) - set(present):
            problems.append(f"types must be machine types of the fleet ({', '.join(present)}), got {types}")
        if problems:
            raise ValueError("A plant event's " + "; ".join(problems) + ".")
        new = [
            Fault(i, asset, kind, float(onset), float(duration), 1.0)
            for i, (asset, mtype) in enumerate(zip(self.asset_ids, self.machine_types, strict=True))
            if mtype in hit_types
        ]
        self.faults = sorted(self.faults + new, key=lambda f: f.onset)
        return new

    def add_stop(self, asset_id: str, start_s: float, end_s: float) -> Stop:
        """Switch asset ``asset_id`` off from simulated time ``start_s`` and start it again at ``end_s``.

        While stopped its motor draws no power or current, its speed, flow and pressure rise run down
        to 0 through the speed lag, its vibration falls near 0, and its temperatures cool towards
        ambient with their thermal lags; started, it runs up and warms from where it cooled to. A stop
        is no fault (the ``fault`` column stays empty); :meth:`run` then adds the ``standstill`` and
        ``warming`` columns. A fault scheduled inside a stop still acts on what the machine reads.

        Example
        -------
        >>> fleet = Fleet(3, seed=1)
        >>> stop = fleet.add_stop("fan-01", 60, 3660)
        >>> frame = fleet.run(7200, 60)
        >>> fan = frame[frame["asset_id"] == "fan-01"].set_index("t")
        >>> float(fan.loc[1800.0, "speed_rpm"]), bool(fan.loc[1800.0, "standstill"])
        (0.0, True)
        >>> bool(fan.loc[3720.0, "warming"]), bool(fan.loc[3720.0, "fault"])
        (True, False)
        """
        problems = []
        if asset_id not in self.asset_ids:
            problems.append(
                f"asset_id must be one of the fleet's ({', '.join(self.asset_ids[:6])}...), got {asset_id!r}"
            )
        if not (np.isfinite(start_s) and np.isfinite(end_s) and end_s > start_s):
            problems.append(
                f"start_s and end_s must be times, end_s after start_s, got {start_s:g}, {end_s:g}"
            )
        if problems:
            raise ValueError("A stop's " + "; ".join(problems) + ".")
        stop = Stop(self.asset_ids.index(asset_id), asset_id, float(start_s), float(end_s))
        self.stops.append(stop)
        return stop

    def active_faults(self, t: float | None = None) -> list[Fault]:
        """Faults under way at ``t`` (default: now)."""
        t = self.t if t is None else t
        return [f for f in self.faults if f.active(t)]

    def step(self, dt: float) -> tuple[float, dict[str, np.ndarray]]:
        """Advance ``dt`` simulated seconds; returns the time and the measured readings (sensor -> array)."""
        t_next = self.t + dt
        fx = process_effects(self.plates.n, self.faults, t_next, self.fault_rng)
        # Without a stop the physics runs as it always did, every machine on.
        stopped = stopped_at(self.stops, self.plates.n, t_next) if self.stops else None
        true = self.physics.step(dt, fx, stopped)
        readings = {name: self._measure(name, values) for name, values in true.items()}
        self._sensor_faults.apply(readings, self.faults, self.t, self.fault_rng)
        self.after_effect = self._still_off()
        self.recovering = self.after_effect & ~self._under_fault()
        if stopped is not None:
            started = self.standstill & ~stopped
            self.standstill = stopped
            self.warming = (self.warming | started) & ~stopped & self._still_cold()
        return self.t, readings

    def _under_fault(self) -> np.ndarray:
        under = np.zeros(self.plates.n, dtype=bool)
        for f in self.active_faults():
            under[f.asset] = True
        return under

    def _still_off(self) -> np.ndarray:
        off = np.zeros(self.plates.n, dtype=bool)
        for name, heat in self.physics.fault_heat().items():
            measured, limit = self._off_limits[name]
            off |= measured & (heat > limit)
        return off

    def _still_cold(self) -> np.ndarray:
        cold = np.zeros(self.plates.n, dtype=bool)
        for name, under in self.physics.warming().items():
            measured, limit = self._off_limits[name]
            cold |= measured & (under > limit)
        return cold

    def _measure(self, name: str, values: np.ndarray) -> np.ndarray:
        rel, absolute, quantum = _MEASUREMENT[name]
        noisy = values * (1 + rel * self.noise_rng.normal(size=values.shape))
        if absolute:
            noisy = noisy + absolute * self.noise_rng.normal(size=values.shape)
        return np.round(noisy / quantum) * quantum

    def records(self, readings: dict[str, np.ndarray]) -> list[tuple[str, dict[str, float]]]:
        """``(asset_id, values)`` per asset, each with only the sensors its machine type has."""
        columns = {name: values.tolist() for name, values in readings.items()}
        return [
            (asset, {name: round(columns[name][i], 4) for name in sensors})
            for i, (asset, sensors) in enumerate(zip(self.asset_ids, self._sensors, strict=True))
        ]

    def run(self, duration_s: float, interval_s: float, *, substep_s: float = 10.0) -> pd.DataFrame:
        """Simulate ``duration_s`` seconds, one row per asset every ``interval_s`` seconds.

        Columns: ``t`` (simulated seconds), ``asset_id``, ``machine_type``, then every sensor (NaN where
        the asset's type lacks it), then ``fault`` (the active fault's kind, empty when normal) and
        ``recovering`` (no fault under way, but its after-effect not gone yet: see :attr:`recovering`).
        Once a stop is scheduled (:meth:`add_stop`), also ``standstill`` (switched off) and ``warming``
        (started after a stop, still cold: see :attr:`warming`).
        """
        n_rows = int(duration_s // interval_s)
        substeps = max(1, int(np.ceil(interval_s / substep_s)))
        frames: dict[str, list[np.ndarray]] = {}
        times, labels, recovering, standstill, warming = [], [], [], [], []
        for _ in range(n_rows):
            for _ in range(substeps):
                t, readings = self.step(interval_s / substeps)
            for name, values in readings.items():
                frames.setdefault(name, []).append(values)
            times.append(t)
            recovering.append(self.recovering.copy())
            standstill.append(self.standstill.copy())
            warming.append(self.warming.copy())
            label = np.full(self.plates.n, "", dtype=object)
            for f in self.active_faults(t):
                label[f.asset] = f.kind
            labels.append(label)
        n = self.plates.n
        data: dict[str, Any] = {
            "t": np.repeat(times, n),
            "asset_id": np.tile(self.asset_ids, n_rows),
            "machine_type": np.tile(self.machine_types, n_rows),
        }
        frame = pd.DataFrame(data | {name: np.concatenate(v) for name, v in frames.items()})
        for mtype, spec in MACHINE_TYPES.items():
            missing = [c for c in frame.columns[3:] if c not in spec.sensors]
            frame.loc[frame["machine_type"] == mtype, missing] = np.nan
        frame["fault"] = np.concatenate(labels) if labels else np.array([], dtype=object)
        frame["recovering"] = np.concatenate(recovering) if recovering else np.array([], dtype=bool)
        if self.stops:
            frame["standstill"] = np.concatenate(standstill) if standstill else np.array([], dtype=bool)
            frame["warming"] = np.concatenate(warming) if warming else np.array([], dtype=bool)
        return frame
