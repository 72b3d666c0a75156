"""Whether the plant bench's alerts name the sensor at fault (``naming`` in the bench's JSON; see
:mod:`pipeline.plantbench`): the truth of each fault kind, and the tally of the first alert of each
detected episode against it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.simulator.faults import SENSOR_FAULTS, Fault

__all__ = [
    "GRACE_S",
    "PROCESS_FAULT_SENSORS",
    "first_alerts",
    "naming",
    "naming_out",
    "pool_naming",
    "sensors_named",
]

GRACE_S = 120.0  # an alert opened up to this long after a fault's end still detects it

# The sensors each process fault moves at once, read off the simulator's code: the Effects that
# pipeline/simulator/faults.py process_effects sets for the kind, carried to the readings by
# PlantPhysics._targets and step in pipeline/simulator/physics.py. There the flow q scales the flow
# reading and lowers the suction pressure (-0.04 q^2); the discharge pressure is suction plus head; the
# current follows power (0.25 + 0.75 p); suction_drop lowers suction (so discharge). Not at once: the
# bearing temperature (bearing_wear's heat) and the winding temperature (the current) follow through
# thermal lags of 10 and 15 minutes, so an alert in a fault's first minute cannot see them move.
# tests/test_plant_bench.py checks this table against the physics.
PROCESS_FAULT_SENSORS: dict[str, frozenset[str]] = {
    "bearing_wear": frozenset({"vibration_mm_s"}),
    "cavitation": frozenset(
        {
            "flow_m3h",
            "suction_pressure_bar",
            "discharge_pressure_bar",
            "motor_power_kw",
            "motor_current_a",
            "vibration_mm_s",
        }
    ),
    "seal_leak": frozenset(
        {"flow_m3h", "suction_pressure_bar", "discharge_pressure_bar", "motor_power_kw", "motor_current_a"}
    ),
    "motor_overload": frozenset({"motor_power_kw", "motor_current_a", "vibration_mm_s"}),
    "efficiency_loss": frozenset({"motor_power_kw", "motor_current_a"}),
}


def first_alerts(
    openings: list[tuple[str, float]], faults: list[Fault], *, grace_s: float = GRACE_S
) -> list[tuple[Fault, int]]:
    """Each detected episode with its first alert (an index into ``openings``): the earliest opened on
    its asset between onset and end + ``grace_s``, the one ``tally`` times its detection by."""
    out = []
    for f in faults:
        hits = [(t, i) for i, (asset, t) in enumerate(openings) if asset == f.asset_id]
        hits = [(t, i) for t, i in hits if f.onset <= t <= f.end + grace_s]
        if hits:
            out.append((f, min(hits)[1]))
    return out


def sensors_named(entry: Mapping[str, Any]) -> list[str]:
    """The raw sensors one entry of an alert's ``top_sensors`` points the operator to: those a derived
    feature comes from (``from_sensors``), else the sensor it names."""
    return list(entry.get("from_sensors") or [entry["sensor"]])


def _truth(fault: Fault) -> frozenset[str] | None:
    if fault.kind in SENSOR_FAULTS:
        return frozenset({fault.sensor}) if fault.sensor else None
    return PROCESS_FAULT_SENSORS.get(fault.kind)


def naming(
    episodes: Sequence[tuple[Fault, Sequence[Mapping[str, Any]]]],
    features: Mapping[str, Sequence[str]],
    top: int,
) -> dict[str, Any]:
    """The raw tally of naming: per fault kind, for each ``(episode, top_sensors of its first alert)``,
    whether the first entry names a sensor of the truth (``rank1``) and whether one of the first
    ``top`` does (``in_top``); beside them the chance of each for entries drawn at random, without
    repeats, from the detector's ``features`` (name -> sensors it names). Add up with ``pool``."""
    kinds: dict[str, dict[str, list[Any]]] = {}
    alerts: list[dict[str, Any]] = []
    n_features = len(features)
    k = min(top, n_features)
    for fault, entries in episodes:
        truth = _truth(fault)
        if truth is None:
            continue
        named = [set(sensors_named(e)) & truth for e in entries[:top]]
        hits = sum(bool(set(sensors) & truth) for sensors in features.values())
        one = kinds.setdefault(
            fault.kind, {"rank1": [], "in_top": [], "chance_rank1": [], "chance_in_top": []}
        )
        one["rank1"].append(bool(named and named[0]))
        one["in_top"].append(any(named))
        one["chance_rank1"].append(hits / n_features)
        one["chance_in_top"].append(1.0 - math.comb(n_features - hits, k) / math.comb(n_features, k))
        alerts.append(
            {
                "asset_id": fault.asset_id,
                "kind": fault.kind,
                "onset": fault.onset,
                "truth": sorted(truth),
                "named": [e["sensor"] for e in entries[:top]],
            }
        )
    return {"top": top, "kinds": kinds, "alerts": alerts}


def pool_naming(parts: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, dict[str, list[Any]]] = {}
    for part in parts:
        for kind, columns in part["kinds"].items():
            into = kinds.setdefault(kind, {name: [] for name in columns})
            for name, values in columns.items():
                into[name].extend(values)
    return {"top": parts[0]["top"], "kinds": kinds}


def _naming_summary(counts: dict[str, Any]) -> dict[str, Any]:
    """Rates of :func:`naming`'s tally per kind, and pooled over the sensor faults and over the process
    faults (each detected episode counts once)."""

    def rates(columns: list[dict[str, list[Any]]]) -> dict[str, Any]:
        n = sum(len(c["rank1"]) for c in columns)
        out: dict[str, Any] = {"episodes": n}
        for name in ("rank1", "in_top", "chance_rank1", "chance_in_top"):
            values = [v for c in columns for v in c[name]]
            out[name] = round(float(np.mean(values)), 3) if values else None
        return out

    kinds = counts["kinds"]
    sensor = [kinds[k] for k in sorted(kinds) if k in SENSOR_FAULTS]
    process = [kinds[k] for k in sorted(kinds) if k not in SENSOR_FAULTS]
    return {
        "top_sensors": counts["top"],
        "sensor_faults": rates(sensor),
        "process_faults": rates(process),
        "by_kind": {k: rates([kinds[k]]) for k in sorted(kinds)},
    } | ({"alerts": counts["alerts"]} if "alerts" in counts else {})


def naming_out(counts: dict[str, Any]) -> dict[str, Any]:
    """The ``naming`` of :func:`summarize`: of the alerts' ``top_sensors`` and, where the detector's
    alerts carry them, under ``suspect_sensors`` the same rates of their ``suspect_sensors``."""
    out = _naming_summary(counts["naming"])
    if "suspect_naming" in counts:
        out["suspect_sensors"] = _naming_summary(counts["suspect_naming"])
    return out
