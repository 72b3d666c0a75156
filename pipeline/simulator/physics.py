"""The plant's physics: machine types, per-asset nameplates and the coupled dynamics of one time step.

Every asset is a variable-speed turbomachine (centrifugal pump, fan or centrifugal compressor) whose
operating point follows the affinity laws in per-unit terms (1.0 = the asset's rated point):

* flow ``q = s * v`` (speed ``s``, valve / system factor ``v``),
* head ``h = s^2 * (1.25 - 0.25 v^2)`` (a pump curve ``H = 1.25 s^2 - 0.25 Q^2`` against the system),
* shaft power ``p = q * h``, so ``p ~ s^3`` at a fixed valve position.

Speed follows a command made of a daily load cycle, set-point steps and process wander, through a
first-order lag. Motor current follows power (plus magnetising current); bearing and winding
temperatures follow load and ambient temperature with thermal lags of minutes. Process faults act on
the physics through :class:`Effects` multipliers, so a fault moves every sensor it physically should.

A machine can be stopped (``stopped`` of :meth:`PlantPhysics.step`): its motor is switched off, so it
draws no power or current and its speed runs down through the speed lag, with it the flow and the
pressure rise; its vibration falls to what its neighbours pass on, and its bearing, winding and
discharge temperatures cool towards ambient, each with its own thermal lag. Started again, it runs up
through the same speed lag and its temperatures warm from wherever they had cooled to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CORE_SENSORS",
    "LAGGED_SENSORS",
    "MACHINE_TYPES",
    "Effects",
    "MachineType",
    "Nameplates",
    "PlantPhysics",
    "make_nameplates",
]

DAY_S = 86_400.0

# Every machine type measures these; the model of the demo reads these and nothing else.
CORE_SENSORS = (
    "speed_rpm",
    "flow_m3h",
    "suction_pressure_bar",
    "discharge_pressure_bar",
    "motor_current_a",
    "motor_power_kw",
    "vibration_mm_s",
    "bearing_temp_c",
    "winding_temp_c",
    "ambient_temp_c",
)


@dataclass(frozen=True)
class MachineType:
    """Ranges the nameplate of an asset of this type is drawn from (low, high)."""

    name: str
    speed_rpm: tuple[float, float]
    flow_m3h: tuple[float, float]
    head_bar: tuple[float, float]
    suction_bar: tuple[float, float]
    power_kw: tuple[float, float]
    vibration_mm_s: tuple[float, float]
    extra_sensors: tuple[str, ...] = ()

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors an asset of this type reports."""
        return CORE_SENSORS + self.extra_sensors


MACHINE_TYPES = {
    "pump": MachineType(
        "pump",
        (1450, 2960),
        (40, 400),
        (2.0, 8.0),
        (1.0, 2.5),
        (15, 160),
        (1.2, 2.8),
        ("valve_position_pct",),
    ),
    "fan": MachineType("fan", (740, 1480), (5_000, 40_000), (0.08, 0.15), (0.98, 1.02), (11, 90), (1.5, 3.5)),
    "compressor": MachineType(
        "compressor",
        (6000, 12000),
        (800, 4000),
        (3.0, 7.0),
        (1.0, 1.1),
        (90, 450),
        (0.8, 2.0),
        ("discharge_temp_c", "oil_pressure_bar"),
    ),
}


@dataclass(frozen=True)
class Nameplates:
    """Per-asset constants, one array entry per asset."""

    machine_type: list[str]
    rated_speed: np.ndarray
    rated_flow: np.ndarray
    rated_head: np.ndarray
    suction_base: np.ndarray
    rated_power: np.ndarray
    rated_current: np.ndarray
    base_vibration: np.ndarray
    bearing_rise: np.ndarray
    winding_rise: np.ndarray
    ambient_offset: np.ndarray

    @property
    def n(self) -> int:
        """Number of assets."""
        return len(self.machine_type)


def make_nameplates(types: list[str], rng: np.random.Generator) -> Nameplates:
    """Draw a nameplate for each asset of the given machine types."""
    specs = [MACHINE_TYPES[t] for t in types]

    def draw(attr: str) -> np.ndarray:
        return np.array([rng.uniform(*getattr(s, attr)) for s in specs])

    power = draw("power_kw")
    return Nameplates(
        machine_type=list(types),
        rated_speed=np.round(draw("speed_rpm")),
        rated_flow=draw("flow_m3h"),
        rated_head=draw("head_bar"),
        suction_base=draw("suction_bar"),
        rated_power=power,
        # 400 V three-phase, power factor x efficiency about 0.8 at the rated point.
        rated_current=power * 1000 / (np.sqrt(3) * 400 * 0.8),
        base_vibration=draw("vibration_mm_s"),
        bearing_rise=rng.uniform(18, 30, len(types)),
        winding_rise=rng.uniform(35, 55, len(types)),
        ambient_offset=rng.uniform(-2, 2, len(types)),
    )


@dataclass
class Effects:
    """What process faults do to the physics in one step (neutral = no fault), one entry per asset."""

    n: int
    flow: np.ndarray = field(init=False)
    head: np.ndarray = field(init=False)
    power: np.ndarray = field(init=False)
    current: np.ndarray = field(init=False)
    vibration: np.ndarray = field(init=False)
    suction_drop: np.ndarray = field(init=False)
    bearing_heat: np.ndarray = field(init=False)
    #: deg C added to every cooled temperature (bearing, winding, compressor discharge): warmer coolant.
    coolant_heat: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("flow", "head", "power", "current", "vibration"):
            setattr(self, name, np.ones(self.n))
        self.suction_drop = np.zeros(self.n)
        self.bearing_heat = np.zeros(self.n)
        self.coolant_heat = np.zeros(self.n)

    def any(self) -> bool:
        """Whether any fault acts on the physics (all multipliers 1 and offsets 0 when none does)."""
        scaled = (self.flow, self.head, self.power, self.current, self.vibration)
        offsets = (self.suction_drop, self.bearing_heat, self.coolant_heat)
        return any(bool((a != 1).any()) for a in scaled) or any(bool(a.any()) for a in offsets)


# The lagged (thermal) states, by target name, with the class attribute holding their time constant.
_LAGGED = {"bearing": "BEARING_TAU_S", "winding": "WINDING_TAU_S", "discharge_temp": "DISCHARGE_TEMP_TAU_S"}
_SENSOR_OF = {"bearing": "bearing_temp_c", "winding": "winding_temp_c", "discharge_temp": "discharge_temp_c"}
#: The sensors of the lagged temperatures, which :meth:`PlantPhysics.fault_heat` reports on.
LAGGED_SENSORS = tuple(_SENSOR_OF.values())


def _lag(state: np.ndarray, target: np.ndarray, dt: float, tau: float) -> np.ndarray:
    # The exact step of a first-order lag: stable for any dt, unlike an Euler step.
    return target + (state - target) * np.exp(-dt / tau)


class PlantPhysics:
    """The true (noise-free) state of every asset, advanced by :meth:`step`."""

    SPEED_TAU_S = 8.0
    BEARING_TAU_S = 600.0
    WINDING_TAU_S = 900.0
    DISCHARGE_TEMP_TAU_S = 90.0
    WANDER_TAU_S = 120.0
    SETPOINT_MEAN_S = 900.0
    #: Under this speed (per unit of rated) a machine is running down or up: below the load cycle's least.
    RUNNING_SPEED = 0.6
    #: The share of its running vibration a stopped machine still reads, passed on by its neighbours.
    STANDSTILL_VIBRATION = 0.04

    def __init__(self, plates: Nameplates, rng: np.random.Generator, *, start_s: float = 0.0) -> None:
        self.plates = plates
        self.rng = rng
        self.t = start_s
        n = plates.n
        self.setpoint = rng.uniform(-0.06, 0.06, n)
        self.valve = rng.uniform(0.9, 1.0, n)
        self.next_change = start_s + rng.exponential(self.SETPOINT_MEAN_S, n)
        self.wander = np.zeros(n)
        self.level = np.zeros(n)
        self.speed = self._command()
        steady = self._targets(self.speed, Effects(n))
        self.bearing = steady["bearing"]
        self.winding = steady["winding"]
        self.discharge_temp = steady["discharge_temp"]
        # The same lagged temperatures as they would be without any fault (a fault's heat outlasts it).
        self._clean = {name: steady[name].copy() for name in _LAGGED}
        # What they settle at without a fault, running as the machines now do (stopped or not).
        self._clean_target = {name: steady[name].copy() for name in _LAGGED}

    def ambient(self) -> np.ndarray:
        """Ambient temperature (deg C): a daily cycle peaking mid-afternoon."""
        tod = self.t % DAY_S
        return 20 + 6 * np.sin(2 * np.pi * (tod - 9 * 3600) / DAY_S) + self.plates.ambient_offset

    def _command(self) -> np.ndarray:
        tod = self.t % DAY_S
        daily = 0.86 + 0.08 * np.sin(2 * np.pi * (tod - 8 * 3600) / DAY_S)
        return np.clip(daily + self.setpoint + self.wander, 0.6, 1.08)

    def _targets(
        self, speed: np.ndarray, fx: Effects, stopped: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        p = self.plates
        shape = 1.25 - 0.25 * self.valve**2
        q = speed * self.valve * fx.flow
        h = speed**2 * shape * fx.head
        power = speed**3 * self.valve * shape * fx.power
        current = (0.25 + 0.75 * power) * fx.current
        ambient = self.ambient()
        suction = p.suction_base * (1 + 0.04 * self.level - 0.04 * q**2) - fx.suction_drop * p.suction_base
        bearing = ambient + p.bearing_rise * (0.5 + 0.5 * speed**2) + fx.bearing_heat + fx.coolant_heat
        if stopped is not None:
            # A motor switched off draws nothing; a shaft turning slower than it ever runs heats its
            # bearing less, down to nothing at rest.
            power = np.where(stopped, 0.0, power)
            current = np.where(stopped, 0.0, current)
            friction = (p.bearing_rise * (0.5 + 0.5 * speed**2) + fx.bearing_heat) * self.turning(speed)
            bearing = ambient + friction + fx.coolant_heat
        return {
            "q": q,
            "h": h,
            "power": power,
            "current": current,
            "suction": suction,
            "ambient": ambient,
            "bearing": bearing,
            "winding": ambient + p.winding_rise * current**2 + fx.coolant_heat,
            "discharge_temp": ambient + 60 * h + fx.coolant_heat,
        }

    def turning(self, speed: np.ndarray) -> np.ndarray:
        """Per asset, 1 at running speed (:attr:`RUNNING_SPEED` or more), falling in proportion to the
        speed to 0 at rest: how much of its running friction and vibration a machine has."""
        return np.minimum(speed / self.RUNNING_SPEED, 1.0)

    def fault_heat(self) -> dict[str, np.ndarray]:
        """Per lagged temperature sensor, how many deg C each asset is off the value it would have had
        without any fault: non-zero after a fault that heated (or cooled) it, decaying with its lag."""
        actual = {"bearing": self.bearing, "winding": self.winding, "discharge_temp": self.discharge_temp}
        return {_SENSOR_OF[name]: np.abs(actual[name] - self._clean[name]) for name in _LAGGED}

    def warming(self) -> dict[str, np.ndarray]:
        """Per lagged temperature sensor, how many deg C each asset's fault-free value is under what it
        settles at as the machine runs now: large just after a start from cold, near 0 once warm (a
        change of load moves it a little either way)."""
        return {_SENSOR_OF[name]: self._clean_target[name] - self._clean[name] for name in _LAGGED}

    def step(self, dt: float, fx: Effects, stopped: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Advance ``dt`` seconds under the faults' ``fx``, the machines ``stopped`` (a mask; None: every
        one running) switched off; returns the true sensor values by name."""
        rng, p, n = self.rng, self.plates, self.plates.n
        self.t += dt
        changing = self.t >= self.next_change
        if changing.any():
            k = int(changing.sum())
            self.setpoint[changing] = rng.uniform(-0.06, 0.06, k)
            self.valve[changing] = rng.uniform(0.9, 1.0, k)
            self.next_change[changing] = self.t + rng.exponential(self.SETPOINT_MEAN_S, k)
        keep = np.exp(-dt / self.WANDER_TAU_S)
        self.wander = self.wander * keep + 0.02 * np.sqrt(1 - keep**2) * rng.normal(size=n)
        keep_level = np.exp(-dt / 1800.0)
        self.level = self.level * keep_level + np.sqrt(1 - keep_level**2) * rng.normal(size=n)
        command = self._command() if stopped is None else np.where(stopped, 0.0, self._command())
        self.speed = _lag(self.speed, command, dt, self.SPEED_TAU_S)
        tg = self._targets(self.speed, fx, stopped)
        self.bearing = _lag(self.bearing, tg["bearing"], dt, self.BEARING_TAU_S)
        self.winding = _lag(self.winding, tg["winding"], dt, self.WINDING_TAU_S)
        self.discharge_temp = _lag(self.discharge_temp, tg["discharge_temp"], dt, self.DISCHARGE_TEMP_TAU_S)
        clean = self._targets(self.speed, Effects(n), stopped) if fx.any() else tg
        for name, tau in _LAGGED.items():
            self._clean[name] = _lag(self._clean[name], clean[name], dt, getattr(self, tau))
            self._clean_target[name] = clean[name]
        vibration = p.base_vibration * (0.5 + 0.5 * self.speed**2) * fx.vibration
        if stopped is not None:
            vibration = vibration * np.maximum(self.turning(self.speed), self.STANDSTILL_VIBRATION)
        return {
            "speed_rpm": p.rated_speed * self.speed,
            "flow_m3h": p.rated_flow * tg["q"],
            "suction_pressure_bar": tg["suction"],
            "discharge_pressure_bar": tg["suction"] + p.rated_head * tg["h"],
            "motor_current_a": p.rated_current * tg["current"],
            "motor_power_kw": p.rated_power * tg["power"],
            "vibration_mm_s": vibration,
            "bearing_temp_c": self.bearing,
            "winding_temp_c": self.winding,
            "ambient_temp_c": tg["ambient"],
            "valve_position_pct": 100 * self.valve,
            "discharge_temp_c": self.discharge_temp,
            "oil_pressure_bar": 2.5 + 0.3 * self.speed**2,
        }
