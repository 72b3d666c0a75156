"""Physically derived model features for turbomachinery: the one place training and scoring share.

A shared model over a fleet sees each asset at its own scale (one pump moves 40 m3/h, a fan 30,000),
and DHAG, like most detectors, finds a relation between sensors much harder to check than a value out
of its usual range. So the raw readings are turned into per-unit values (divided by the asset's own
median from the training history) and into the ratios the affinity laws keep nearly constant:

* ``flow_per_speed = q / s``, ``head_per_speed2 = h / s^2``, ``power_per_speed3 = p / s^3``,
* ``efficiency_ratio = q * h / p`` (hydraulic over shaft power, relative to the asset's usual),
* and the bearing temperature's rise over ambient.

The set was chosen by measurement on the simulated plant (``dhag-pipeline bench plant``): adding the
ambient temperature, the winding temperature rise and current per power made DHAG's scores of the
in-range faults markedly worse (per-reading AUROC of the efficiency loss 0.65 instead of 0.90).

A fault that breaks a relation while every raw sensor stays in range (a worn impeller drawing 10 % more
power) moves one of these ratios far out of its narrow normal band, which is what a detector sees well.

The spec (input sensors, per-asset references, input means) is stored in the model's metadata under
``plant_features``; :class:`~pipeline.processing.BatchProcessor` applies it before scoring when present.
Assets missing from the references use the fleet's median reference (and are logged once, the first
:data:`_MAX_WARNED` of them; one more line says that no more are named).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.simulator.physics import CORE_SENSORS

__all__ = [
    "DERIVED_FEATURES",
    "FEATURE_MEANINGS",
    "INPUT_SENSORS",
    "METADATA_KEY",
    "STANDSTILL_PU",
    "PlantFeatures",
    "keep_references",
]

log = logging.getLogger(__name__)

METADATA_KEY = "plant_features"
# The sensors every machine type of the simulated plant reports: the derived features need exactly these.
INPUT_SENSORS = CORE_SENSORS
# Quantities referenced per asset (their median over the asset's normal history is "1 per unit").
_REFERENCED = (
    "speed",
    "flow",
    "head",
    "power",
    "current",
    "suction",
    "vibration",
    "bearing_rise",
    "winding_rise",
)
DERIVED_FEATURES = (
    "speed_pu",
    "flow_pu",
    "head_pu",
    "power_pu",
    "current_pu",
    "suction_pu",
    "vibration_pu",
    "bearing_rise_pu",
    "flow_per_speed",
    "head_per_speed2",
    "power_per_speed3",
    "efficiency_ratio",
)
# What each derived feature means to an operator, and the raw sensors it is computed from: an alert
# names derived features, and the plant's HMI shows raw sensors. "Usual" is the asset's own median over
# its training history.
FEATURE_MEANINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "speed_pu": ("shaft speed, relative to the asset's usual", ("speed_rpm",)),
    "flow_pu": ("flow, relative to the asset's usual", ("flow_m3h",)),
    "head_pu": (
        "pressure rise (discharge minus suction), relative to the asset's usual",
        ("discharge_pressure_bar", "suction_pressure_bar"),
    ),
    "power_pu": ("motor power, relative to the asset's usual", ("motor_power_kw",)),
    "current_pu": ("motor current, relative to the asset's usual", ("motor_current_a",)),
    "suction_pu": ("suction pressure, relative to the asset's usual", ("suction_pressure_bar",)),
    "vibration_pu": ("vibration, relative to the asset's usual", ("vibration_mm_s",)),
    "bearing_rise_pu": (
        "bearing temperature above ambient, relative to the asset's usual",
        ("bearing_temp_c", "ambient_temp_c"),
    ),
    "flow_per_speed": (
        "flow per unit speed: steady at a given valve position (affinity law)",
        ("flow_m3h", "speed_rpm"),
    ),
    "head_per_speed2": (
        "pressure rise per speed squared: steady for a healthy machine (affinity law)",
        ("discharge_pressure_bar", "suction_pressure_bar", "speed_rpm"),
    ),
    "power_per_speed3": (
        "power per speed cubed: steady for a healthy machine (affinity law)",
        ("motor_power_kw", "speed_rpm"),
    ),
    "efficiency_ratio": (
        "flow times pressure rise per unit power: hydraulic efficiency, relative to the asset's usual",
        ("flow_m3h", "discharge_pressure_bar", "suction_pressure_bar", "motor_power_kw"),
    ),
}
_FLOOR = 1e-3
_MAX_WARNED = 1000
#: A machine whose power, and speed or current, read under this share of its usual is at standstill.
STANDSTILL_PU = 0.1
_STILL = ("speed", "power", "current")


def _quantities(raw: np.ndarray) -> np.ndarray:
    """Columns of ``_REFERENCED`` from a matrix of ``INPUT_SENSORS``."""
    col = {name: raw[:, i] for i, name in enumerate(INPUT_SENSORS)}
    return np.column_stack(
        [
            col["speed_rpm"],
            col["flow_m3h"],
            col["discharge_pressure_bar"] - col["suction_pressure_bar"],
            col["motor_power_kw"],
            col["motor_current_a"],
            col["suction_pressure_bar"],
            col["vibration_mm_s"],
            col["bearing_temp_c"] - col["ambient_temp_c"],
            col["winding_temp_c"] - col["ambient_temp_c"],
        ]
    )


class PlantFeatures:
    """Raw sensor matrix (``INPUT_SENSORS`` order) + asset ids -> ``DERIVED_FEATURES`` matrix.

    Example
    -------
    >>> import numpy as np
    >>> row = np.array([[1500, 100, 1.5, 5.5, 50, 30, 2.0, 45, 60, 20]], dtype=float)
    >>> pf = PlantFeatures.fit(pd.DataFrame(row, columns=INPUT_SENSORS).assign(asset_id="p1"))
    >>> pf.references["p1"][:3]
    [1500.0, 100.0, 4.0]
    >>> derived = dict(zip(DERIVED_FEATURES, pf.transform(row, ["p1"])[0].tolist()))
    >>> derived["power_per_speed3"], derived["efficiency_ratio"]
    (1.0, 1.0)
    """

    def __init__(
        self,
        references: Mapping[str, Sequence[float]],
        input_means: Mapping[str, float],
        ranges: Mapping[str, Sequence[Sequence[float]]] | None = None,
    ) -> None:
        self.references = {str(a): [float(x) for x in ref] for a, ref in references.items()}
        if not self.references:
            raise ValueError("PlantFeatures needs the reference of at least one asset")
        self.input_means = {str(k): float(v) for k, v in input_means.items()}
        #: Per asset, each derived feature's ``[min, max]`` over the normal rows the model trained on
        #: (:meth:`with_ranges`); an asset without them is held to the model's fleet-wide range.
        self.ranges: dict[str, list[list[float]]] = {}
        for asset, pairs in (ranges or {}).items():
            rows = [[float(lo), float(hi)] for lo, hi in pairs]
            if len(rows) != len(DERIVED_FEATURES) or not all(
                np.isfinite(lo) and np.isfinite(hi) and lo <= hi for lo, hi in rows
            ):
                raise ValueError(f"the training ranges of asset {asset!r} do not fit the derived features")
            self.ranges[str(asset)] = rows
        self._fallback = np.median(np.array(list(self.references.values())), axis=0)
        self._warned: set[str] = set()
        self._unnamed_said = False  # that the assets past the _MAX_WARNED named go unnamed

    @property
    def inputs(self) -> list[str]:
        """The raw sensors a record must carry, in the order :meth:`transform` expects."""
        return list(INPUT_SENSORS)

    @classmethod
    def fit(cls, history: pd.DataFrame) -> PlantFeatures:
        """References from a normal history with an ``asset_id`` column and the ``INPUT_SENSORS``."""
        references = {
            str(asset): np.median(_quantities(group[list(INPUT_SENSORS)].to_numpy(float)), axis=0).tolist()
            for asset, group in history.groupby("asset_id")
        }
        return cls(references, {s: float(history[s].mean()) for s in INPUT_SENSORS})

    def with_ranges(self, derived: np.ndarray, asset_ids: Sequence[str]) -> PlantFeatures:
        """The same spec with per-asset training ranges: each asset's min and max of each column of
        ``derived`` (the derived features of the normal rows a model trains on, with their assets)."""
        frame = pd.DataFrame(np.asarray(derived, dtype=float)).groupby(np.asarray(asset_ids, dtype=str))
        low, high = frame.min(), frame.max()
        ranges = {str(a): np.column_stack([low.loc[a], high.loc[a]]).tolist() for a in low.index}
        return PlantFeatures(self.references, self.input_means, ranges)

    def without(self, assets: Collection[str]) -> PlantFeatures:
        """The same spec without the references and ranges of ``assets`` (retired ones: an asset that
        comes back is then a new one, scaled by the fleet's median until a retraining run gives it a
        reference from its recent readings). Unchanged when it would drop every reference.

        >>> import numpy as np
        >>> pf = PlantFeatures({"p1": [1.0] * 9, "p2": [2.0] * 9}, {})
        >>> sorted(pf.without({"p2", "p9"}).references), pf.without({"p1", "p2"}) is pf
        (['p1'], True)
        """
        drop = set(assets) & set(self.references)
        if not drop or drop == set(self.references):
            return self
        references = {a: ref for a, ref in self.references.items() if a not in drop}
        ranges = {a: pairs for a, pairs in self.ranges.items() if a not in drop}
        return PlantFeatures(references, self.input_means, ranges)

    # -- metadata round trip ---------------------------------------------------------------------
    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready spec for the model's metadata (under :data:`METADATA_KEY`)."""
        return {
            "version": 1,
            "inputs": list(INPUT_SENSORS),
            "features": list(DERIVED_FEATURES),
            "references": self.references,
            "input_means": self.input_means,
            "ranges": self.ranges,
        }

    @classmethod
    def from_metadata(cls, spec: Mapping[str, Any]) -> PlantFeatures:
        """Rebuild from :meth:`to_metadata`'s output; raises ValueError for a spec of another version
        or a malformed one (a model that loads must not fail at its first batch, nor stop a hot swap)."""
        try:
            if spec.get("version") != 1 or list(spec.get("inputs", ())) != list(INPUT_SENSORS):
                raise ValueError(f"unsupported {METADATA_KEY} spec (version {spec.get('version')!r})")
            # A spec written before the per-asset ranges were kept has none.
            features = cls(spec["references"], spec["input_means"], spec.get("ranges"))
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed {METADATA_KEY} spec: {type(exc).__name__} {exc}") from None
        if any(len(ref) != len(_REFERENCED) for ref in features.references.values()):
            raise ValueError(f"malformed {METADATA_KEY} spec: a reference is not {len(_REFERENCED)} numbers")
        return features

    @classmethod
    def from_model(cls, model: Any) -> PlantFeatures | None:
        """The spec stored with a fitted model, or None when the model reads raw sensors directly."""
        spec = (getattr(model, "metadata_", None) or {}).get(METADATA_KEY)
        return None if spec is None else cls.from_metadata(spec)

    # -- the transform ---------------------------------------------------------------------------
    def unreferenced(self, asset_ids: Sequence[str]) -> int:
        """How many of ``asset_ids`` (one per reading) have no reference: :meth:`transform` scales their
        readings by the fleet's median one.

        >>> PlantFeatures({"p1": [1.0] * 9}, {}).unreferenced(["p1", "p2", "p2", "p1"])
        2
        """
        unknown = set(asset_ids).difference(self.references)
        return sum(asset in unknown for asset in asset_ids) if unknown else 0

    def _reference_rows(self, asset_ids: Sequence[str]) -> np.ndarray:
        rows = []
        for asset in asset_ids:
            ref = self.references.get(asset)
            if ref is None:
                if asset not in self._warned:
                    self._warn_unreferenced(asset)
                rows.append(self._fallback)
            else:
                rows.append(ref)
        return np.array(rows, dtype=float).reshape(len(asset_ids), len(_REFERENCED))

    def _warn_unreferenced(self, asset: str) -> None:
        """Name ``asset`` in the log, once; past :data:`_MAX_WARNED` of them, say once that no more are
        named (the set of those named stays bounded whatever ids a gateway makes up)."""
        if len(self._warned) < _MAX_WARNED:
            self._warned.add(asset)
            log.warning("asset %r is not in the model's references: using the fleet median", asset)
        elif not self._unnamed_said:
            self._unnamed_said = True
            log.warning(
                "assets not in the model's references are no longer named: %d assets were (the first "
                "left unnamed: %r); dhag_readings_unreferenced_total counts the readings of all of them",
                _MAX_WARNED,
                asset,
            )

    def impute(self, raw: np.ndarray, asset_ids: Sequence[str], missing: np.ndarray) -> np.ndarray:
        """``raw`` (rows of ``INPUT_SENSORS``) with each ``missing`` cell (a boolean mask of its shape)
        replaced by what that row's asset reads at the row's operating point, so that a sensor a record
        lacks reads as usual for the asset (``records.missing_policy: impute``); the fleet's mean of a
        raw sensor (a fan's flow in place of a pump's) would alone make the reading an anomaly.

        The operating point is the row's speed relative to the asset's reference (when speed is
        missing: the median of what the carried flow, pressure rise and power say by the affinity
        laws, else the reference speed). Flow, pressure rise and power follow it by those laws; current
        and vibration are the asset's reference; a pressure or temperature is what the carried one and
        the asset's usual pressure rise or temperature rise over ambient give (ambient itself, without
        a temperature to infer it from, is the training mean).
        """
        raw = np.array(raw, dtype=float)
        missing = np.asarray(missing, dtype=bool)
        if not missing.any():
            return raw
        speed, flow, head, power, current, suction, vibration, bearing, winding = self._reference_rows(
            asset_ids
        ).T
        col = {name: i for i, name in enumerate(INPUT_SENSORS)}
        has = {name: ~missing[:, i] for name, i in col.items()}
        get = {name: raw[:, i] for name, i in col.items()}  # views: they see what is filled

        def fill(name: str, value: np.ndarray | float) -> None:
            raw[:, col[name]] = np.where(missing[:, col[name]], value, raw[:, col[name]])

        rise = get["discharge_pressure_bar"] - get["suction_pressure_bar"]
        with np.errstate(all="ignore"):
            said = np.array(
                [
                    np.where(has["flow_m3h"], get["flow_m3h"] / flow, np.nan),
                    np.where(has["discharge_pressure_bar"] & has["suction_pressure_bar"], rise / head, np.nan)
                    ** 0.5,
                    np.where(has["motor_power_kw"], get["motor_power_kw"] / power, np.nan) ** (1 / 3),
                ]
            )
        said[~(np.isfinite(said) & (said > 0))] = np.nan
        ratio, known = np.ones(len(raw)), np.isfinite(said).any(axis=0)
        ratio[known] = np.nanmedian(said[:, known], axis=0)
        fill("speed_rpm", speed * ratio)
        with np.errstate(all="ignore"):
            s = get["speed_rpm"] / speed
        s = np.where(np.isfinite(s), s, 1.0)
        fill("flow_m3h", flow * s)
        fill("motor_power_kw", power * s**3)
        fill("motor_current_a", current)
        fill("vibration_mm_s", vibration)
        fill(
            "suction_pressure_bar",
            np.where(has["discharge_pressure_bar"], get["discharge_pressure_bar"] - head * s**2, suction),
        )
        fill("discharge_pressure_bar", get["suction_pressure_bar"] + head * s**2)
        ambient = self.input_means.get("ambient_temp_c", np.nan)
        ambient = np.where(has["winding_temp_c"], get["winding_temp_c"] - winding, ambient)
        fill("ambient_temp_c", np.where(has["bearing_temp_c"], get["bearing_temp_c"] - bearing, ambient))
        fill("bearing_temp_c", get["ambient_temp_c"] + bearing)
        fill("winding_temp_c", get["ambient_temp_c"] + winding)
        return raw

    def transform(self, raw: np.ndarray, asset_ids: Sequence[str]) -> np.ndarray:
        """The ``DERIVED_FEATURES`` matrix for rows of ``raw`` (``INPUT_SENSORS`` order)."""
        raw = np.asarray(raw, dtype=float)
        pu = _quantities(raw) / self._reference_rows(asset_ids)

        def safe(x: np.ndarray) -> np.ndarray:
            return np.where(np.abs(x) < _FLOOR, np.copysign(_FLOOR, x), x)

        speed, flow, head, power = (pu[:, i] for i in range(4))
        return np.column_stack(
            [
                pu[:, :8],  # winding rise is left out: it lags load by many minutes and only added noise
                flow / safe(speed),
                head / safe(speed**2),
                power / safe(speed**3),
                flow * head / safe(power),
            ]
        )

    @staticmethod
    def standstill(derived: np.ndarray) -> np.ndarray:
        """Per row of :meth:`transform`'s output: whether the machine stands still or coasts down, its
        power under :data:`STANDSTILL_PU` of the asset's usual and its speed or its motor current too.
        Every per-unit feature of a stopped machine is near 0, far outside what it did running, so the
        model scores it an anomaly; a planned stop is no fault. A motor switched off draws neither power
        nor current at once, while its machine runs down for seconds (a fan with a heavy impeller for
        minutes), its speed and flow still high and its efficiency ratio without bound: stopping, not a
        fault either. The power must be low: a speed sensor failing to 0 on a machine still drawing its
        power, or a machine idling at low power at its usual speed and its no-load current, is still
        judged, and so is a power meter failing to 0 on a running motor (its current reads on)."""
        derived = np.asarray(derived, dtype=float)
        with np.errstate(invalid="ignore"):
            low = {n: np.abs(derived[:, DERIVED_FEATURES.index(f"{n}_pu")]) < STANDSTILL_PU for n in _STILL}
        return low["power"] & (low["speed"] | low["current"])


def keep_references(model: Any, assets: Collection[str]) -> list[str]:
    """Take the references and ranges of every asset not in ``assets`` out of a plant model's spec
    (:meth:`PlantFeatures.without`); returns the ids taken out, sorted (none for a raw-sensor model)."""
    spec = PlantFeatures.from_model(model)
    if spec is None:
        return []
    kept = spec.without(set(spec.references) - set(assets))
    if kept is spec:
        return []
    model.metadata_ = dict(model.metadata_) | {METADATA_KEY: kept.to_metadata()}
    return sorted(set(spec.references) - set(kept.references))
