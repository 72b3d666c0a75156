"""``dhag-pipeline bench plant``: detection quality on the simulated plant, DHAG beside two baselines.

The scenario (fixed seed): a fleet trained on one simulated day of normal operation (run 0), then a
stream of ``minutes`` simulated minutes per asset (run 2) in which every asset goes through faults of
every kind that its machine type can have, in turn, with normal periods between them.

Each detector flags readings; the pipeline's own alert hysteresis (:class:`~pipeline.alerts.AlertTracker`
with the configured ``alerts`` settings) turns flags into alerts, exactly as the daemon does. Then:

* detection rate per fault kind: episodes with an alert opened between onset and end + grace,
* median time to detect: first such alert minus onset (simulated seconds),
* false alerts per asset-day: alerts opened outside every fault episode, per day of normal operation:
  the fault stream's quiet periods and a fault-free day of the same fleet (:func:`normal_day`).
  An episode lasts from onset until the asset has recovered (:func:`fault_windows`: its cause over and
  every temperature back within the sensors' noise of its fault-free value) plus grace. Alerts opened
  after a fault's end + grace but before that recovery (a bearing cooling down) are counted apart as
  ``alerts_during_recovery``: neither false nor detections.

Detectors: ``dhag`` (the production model: :func:`~pipeline.plantmodel.train_plant_model`), ``sigma3``
(per-asset, per-sensor mean +- 3 standard deviations of the raw readings over the history: what many
plants alarm on today) and ``hst`` (river's HalfSpaceTrees on the same derived features as DHAG, min-max
scaled to [0, 1], trained on the history, threshold at DHAG's per-reading false-alarm target); opt-in,
``dhag5`` (five networks), ``dhag-classes`` (``L_ce`` per class), ``dhag-snapshots`` (the mean
score of ten end-of-epoch states) and ``dhag-reference`` (the reference implementation's recipe). The
run is offline (no broker): the same records, features and hysteresis as the daemon: it compares
detectors, not Kafka.

Naming (``naming`` in the JSON): whether an alert tells the operator which sensor is at fault. For each
detected episode, the reading its first alert opened on is explained as the daemon explains it
(:meth:`~pipeline.hotswap.ActiveModel.explain`: the model's attribution, ``alerts.top_sensors`` entries,
a derived feature naming the raw sensors it comes from). ``rank1``: the first entry names a sensor of
the truth; ``in_top``: one of the entries does. The truth is the faulty sensor of a sensor fault
(:attr:`~pipeline.simulator.faults.Fault.sensor`) and, for a process fault, the sensors its kind moves
at once (:data:`PROCESS_FAULT_SENSORS`). ``chance_*`` is what entries drawn at random from the
detector's features would score. DHAG models and ``sigma3`` (raw sensors ranked by how many standard
deviations they lie from their mean) are measured; ``hst`` names nothing. For DHAG models ``naming`` also
holds, under ``suspect_sensors``, the same rates of the alerts' ``suspect_sensors``
(:meth:`~pipeline.hotswap.ActiveModel.suspect_sensors`: which single raw sensor, read differently, makes
the reading most normal), their chance that of raw sensors drawn at random.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.alertevents import imputed_sensors
from pipeline.alerts import AlertTracker
from pipeline.benchio import emit
from pipeline.config import AlertSettings, RecordSettings, Settings
from pipeline.features import INPUT_SENSORS, PlantFeatures
from pipeline.hotswap import bind_model
from pipeline.plantmodel import PLANT_MODEL_SETTINGS, train_plant_model
from pipeline.simulator.faults import FAULT_KINDS, SENSOR_FAULTS, Fault, applicable_kinds, make_fault
from pipeline.simulator.fleet import Fleet

__all__ = ["PLANT_DETECTORS", "PROCESS_FAULT_SENSORS", "evaluate", "fault_windows", "first_alerts"]
__all__ += ["in_window", "naming", "normal_day", "pool", "run_plant_bench", "scenario", "sensors_named"]
__all__ += ["summarize", "tally"]

log = logging.getLogger(__name__)

DETECTORS = ("dhag", "sigma3", "hst")
GRACE_S = 120.0
DAY_S = 86_400.0

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


def scenario(
    *,
    seed: int = 0,
    assets: int = 24,
    minutes: float = 120.0,
    interval_s: float = 2.0,
    history_hours: float = 24.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Fault]]:
    """``(history, stream, faults)``: normal operation for training (a day unless ``history_hours``
    says otherwise), then a stream with scheduled faults.

    Every asset gets one fault per 30 simulated minutes (onset 10 minutes in, 10-15 minutes long),
    cycling through the kinds its machine type can have.
    """
    history = Fleet(assets, seed=seed, run=0).run(history_hours * 3600.0, 30.0)
    start = 6 * 3600.0
    fleet = Fleet(assets, seed=seed, run=2, start_s=start)
    rng = np.random.default_rng(seed + 1000)
    slots = int(minutes // 30)
    faults = []
    for i, (asset, mtype) in enumerate(zip(fleet.asset_ids, fleet.machine_types, strict=True)):
        kinds = applicable_kinds(mtype)
        for k in range(slots):
            onset = start + k * 1800.0 + 600.0
            kind = kinds[(i * slots + k) % len(kinds)]
            faults.append(make_fault(i, asset, kind, onset, float(rng.uniform(600, 900)), rng))
    fleet.faults = sorted(faults, key=lambda f: f.onset)
    stream = fleet.run(minutes * 60.0, interval_s, substep_s=interval_s)
    return history, stream, fleet.faults


# -- detectors: trained on the history, then flag any stream reading by reading ------------------
Flagger = Callable[[pd.DataFrame], np.ndarray]
#: ``(stream, rows, top)`` -> per row (a position in ``stream``), the ``top_sensors`` of an alert opened
#: on it: entries with ``sensor`` and, for a derived feature, the raw sensors it comes from.
Explainer = Callable[[pd.DataFrame, Sequence[int], int], list[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Detector:
    """A trained detector: its flags, and how its alerts name sensors (``explain`` None: they don't).
    ``features`` maps every name an entry can carry to the sensors it names (:func:`sensors_named`)."""

    flag: Flagger
    explain: Explainer | None = None
    features: Mapping[str, Sequence[str]] | None = None
    #: The ``suspect_sensors`` of alerts opened on rows (raw sensors each:
    #: :meth:`~pipeline.hotswap.ActiveModel.suspect_sensors`); None for a detector whose alerts carry none.
    suspects: Explainer | None = None


def _dhag_detector(history: pd.DataFrame, seed: int, members: int = 1, **overrides: Any) -> Detector:
    # No time limit here: the benchmark must train the same model on any machine.
    overrides |= {"time_budget": None, "n_members": members}
    model = train_plant_model(history, seed=seed, fleet={"bench": seed}, **overrides)
    features = PlantFeatures.from_model(model)
    assert features is not None
    # The daemon's binding of a model (pipeline.processing.BatchProcessor), for its alerts' top sensors.
    active = bind_model(model, f"bench-{seed}", RecordSettings())
    assert active.derived is not None

    def flag(stream: pd.DataFrame) -> np.ndarray:
        X = features.transform(stream[list(INPUT_SENSORS)].to_numpy(float), stream["asset_id"].tolist())
        return model.decision_function(X) > model.threshold_

    def explain(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        # As the daemon: the record's values in the parser's order, derived features, then the same
        # explanation, with the sensors the record lacked (none in the simulator's readings).
        frame = stream.iloc[list(rows)]
        raw = frame[active.parser.features].to_numpy(float)
        assets = frame["asset_id"].astype(str).tolist()
        values = frame[active.parser.features].to_dict("records")
        imputed = [imputed_sensors(v, active.parser.features) for v in values]
        return active.explain(active.derived.transform(raw, assets), assets, imputed, top=top)

    def suspects(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        frame = stream.iloc[list(rows)]
        values = frame[active.parser.features].to_dict("records")
        imputed = [imputed_sensors(v, active.parser.features) for v in values]
        return active.suspect_sensors(values, frame["asset_id"].astype(str).tolist(), imputed, top=top)

    every = active.top_sensors([(f, 0.0) for f in active.features], np.zeros(len(active.features)), "")
    return Detector(flag, explain, {e["sensor"]: sensors_named(e) for e in every}, suspects)


def _sigma3_detector(history: pd.DataFrame, seed: int) -> Detector:
    sensors = list(INPUT_SENSORS)
    stats = history.groupby("asset_id")[sensors].agg(["mean", "std"])

    def deviations(stream: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        mean = stats.xs("mean", axis=1, level=1).loc[stream["asset_id"]].to_numpy()
        std = stats.xs("std", axis=1, level=1).loc[stream["asset_id"]].to_numpy()
        return np.abs(stream[sensors].to_numpy(float) - mean), std

    def flag(stream: pd.DataFrame) -> np.ndarray:
        off, std = deviations(stream)
        return (off > 3 * std).any(axis=1)

    def explain(stream: pd.DataFrame, rows: Sequence[int], top: int) -> list[list[dict[str, Any]]]:
        # What a limit alarm tells: the sensors furthest beyond their limits, in standard deviations.
        off, std = deviations(stream.iloc[list(rows)])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = off / std
        order = np.argsort(-np.nan_to_num(z, nan=-np.inf), axis=1, kind="stable")[:, :top]
        return [
            [{"sensor": sensors[c], "contribution": float(zr[c])} for c in cols]
            for zr, cols in zip(z, order, strict=True)
        ]

    return Detector(flag, explain, {s: [s] for s in sensors})


def _hst_detector(history: pd.DataFrame, seed: int) -> Detector:
    from river.anomaly import HalfSpaceTrees

    features = PlantFeatures.fit(history)

    def derive(frame: pd.DataFrame) -> np.ndarray:
        return features.transform(frame[list(INPUT_SENSORS)].to_numpy(float), frame["asset_id"].tolist())

    train = derive(history)
    low, high = train.min(axis=0), train.max(axis=0)
    span = np.where(high > low, high - low, 1.0)

    def rows(X: np.ndarray) -> list[dict[int, float]]:
        scaled = np.clip((X - low) / span, 0.0, 1.0)
        return [dict(enumerate(r)) for r in scaled.tolist()]

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    n_cal = len(train) // 10
    hst = HalfSpaceTrees(n_trees=25, height=12, window_size=250, seed=seed)
    for x in rows(train[order[n_cal:]]):
        hst.learn_one(x)
    calibration = np.array([hst.score_one(x) for x in rows(train[order[:n_cal]])])
    threshold = np.quantile(calibration, 1 - PLANT_MODEL_SETTINGS["target_far"])

    def flag(stream: pd.DataFrame) -> np.ndarray:
        # Frozen after training: scoring does not learn, so every stream meets the same trees.
        return np.array([hst.score_one(x) for x in rows(derive(stream))]) > threshold

    return Detector(flag)  # a score over the whole reading: nothing that names a sensor


_DETECTORS: dict[str, Callable[[pd.DataFrame, int], Detector]] = {
    "dhag": _dhag_detector,
    "dhag5": functools.partial(_dhag_detector, members=5),
    "dhag-classes": functools.partial(_dhag_detector, ce_weighting="classes"),
    "dhag-snapshots": functools.partial(_dhag_detector, snapshots=10),
    "dhag-reference": functools.partial(_dhag_detector, recipe="reference"),
    "sigma3": _sigma3_detector,
    "hst": _hst_detector,
}
PLANT_DETECTORS = tuple(_DETECTORS)


# -- flags -> alerts -> numbers ------------------------------------------------------------------
def alert_openings(stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings) -> list[tuple[str, float]]:
    """``(asset_id, opened_at)`` of every episode the daemon's hysteresis opens on these flags."""
    return [(asset, t) for asset, t, _ in _openings(stream, flags, alerts)]


def _openings(stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings) -> list[tuple[str, float, int]]:
    """:func:`alert_openings` with the position in ``stream`` of the reading each alert opened on."""
    tracker = AlertTracker(
        open_after=alerts.open_after,
        window=alerts.window,
        resolve_after=alerts.resolve_after,
        quiet_s=alerts.quiet_s,
    )
    opened = []
    for n, (asset, t, over) in enumerate(zip(stream["asset_id"], stream["t"], flags.tolist(), strict=True)):
        transition = tracker.observe(asset, over, float(over), float(t), now=float(t), seed=str(n))
        if transition is not None and transition.kind == "open":
            opened.append((asset, float(t), n))
    return opened


def fault_windows(
    faults: list[Fault], stream: pd.DataFrame, *, grace_s: float = GRACE_S
) -> dict[str, list[tuple[float, float]]]:
    """Per asset, ``(onset, until)`` of every fault: ``until`` is the first reading after the fault's end
    at which the asset is neither under a fault nor recovering from one (a bearing still hot), plus
    ``grace_s``. A stream without the ``recovering`` column ends every window at the fault's end."""
    normal_at: dict[str, np.ndarray] = {}
    if "recovering" in stream:
        quiet = (stream["fault"].fillna("") == "") & ~stream["recovering"].astype(bool)
        for asset, times in stream.loc[quiet, "t"].groupby(stream.loc[quiet, "asset_id"]):
            normal_at[str(asset)] = np.sort(times.to_numpy(float))
    windows: dict[str, list[tuple[float, float]]] = {}
    for f in faults:
        until = f.end
        times = normal_at.get(f.asset_id)
        if times is not None:
            i = int(np.searchsorted(times, f.end))
            until = float(times[i]) if i < len(times) else math.inf
        windows.setdefault(f.asset_id, []).append((f.onset, max(until, f.end) + grace_s))
    return windows


def in_window(windows: dict[str, list[tuple[float, float]]], asset: str, t: float) -> bool:
    """Whether ``t`` falls in one of ``asset``'s windows (as :func:`fault_windows` returns them)."""
    return any(a <= t <= b for a, b in windows.get(asset, []))


def tally(
    openings: list[tuple[str, float]], faults: list[Fault], stream: pd.DataFrame, *, grace_s: float = GRACE_S
) -> dict[str, Any]:
    """The raw counts behind :func:`evaluate`: per fault kind which episodes were detected and how fast,
    the false alerts, the alerts during recovery and the asset-days of normal operation. Tallies of
    several scenarios add up with :func:`pool`."""
    by_asset: dict[str, list[float]] = {}
    for asset, t in openings:
        by_asset.setdefault(asset, []).append(t)
    detected: dict[str, list[bool]] = {}
    delays: dict[str, list[float]] = {}
    for f in faults:
        hits = [t for t in by_asset.get(f.asset_id, []) if f.onset <= t <= f.end + grace_s]
        detected.setdefault(f.kind, []).append(bool(hits))
        if hits:
            delays.setdefault(f.kind, []).append(min(hits) - f.onset)
    windows = fault_windows(faults, stream, grace_s=grace_s)
    cause_only: dict[str, list[tuple[float, float]]] = {}
    for f in faults:
        cause_only.setdefault(f.asset_id, []).append((f.onset, f.end + grace_s))

    false_at = [(asset, t) for asset, t in openings if not in_window(windows, asset, t)]
    false = len(false_at)
    after_effect = sum(not in_window(cause_only, asset, t) for asset, t in openings) - false
    interval = float(np.median(np.diff(np.unique(stream["t"])))) if stream["t"].nunique() > 1 else 1.0
    t0 = float(stream["t"].min()) if len(stream) else 0.0
    normal_rows = sum(
        not in_window(windows, asset, t)
        for asset, t in zip(stream["asset_id"], stream["t"].tolist(), strict=True)
    )
    return {
        "detected": detected,
        "delays": delays,
        "false_alerts": int(false),
        "false_alert_openings": [{"asset_id": asset, "stream_s": round(t - t0, 1)} for asset, t in false_at],
        "alerts_during_recovery": int(after_effect),
        "normal_asset_days": normal_rows * interval / DAY_S,
    }


def first_alerts(
    openings: list[tuple[str, float]], faults: list[Fault], *, grace_s: float = GRACE_S
) -> list[tuple[Fault, int]]:
    """Each detected episode with its first alert (an index into ``openings``): the earliest opened on
    its asset between onset and end + ``grace_s``, the one :func:`tally` times its detection by."""
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
    repeats, from the detector's ``features`` (name -> sensors it names). Add up with :func:`pool`."""
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


def _pool_naming(parts: list[dict[str, Any]]) -> dict[str, Any]:
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


def pool(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """One tally of several scenarios: episodes and delays side by side, counts and asset-days summed."""
    detected: dict[str, list[bool]] = {}
    delays: dict[str, list[float]] = {}
    for one in tallies:
        for kind, hits in one["detected"].items():
            detected.setdefault(kind, []).extend(hits)
        for kind, seconds in one["delays"].items():
            delays.setdefault(kind, []).extend(seconds)
    pooled = {
        "detected": detected,
        "delays": delays,
        "false_alerts": sum(one["false_alerts"] for one in tallies),
        "alerts_during_recovery": sum(one["alerts_during_recovery"] for one in tallies),
        "normal_asset_days": sum(one["normal_asset_days"] for one in tallies),
    }
    for key in ("naming", "suspect_naming"):
        if named := [one[key] for one in tallies if key in one]:
            pooled[key] = _pool_naming(named)
    return pooled


def summarize(counts: dict[str, Any]) -> dict[str, Any]:
    """Detection rate and median time to detect per fault kind, false alerts per asset-day."""
    detected, delays, days = counts["detected"], counts["delays"], counts["normal_asset_days"]
    out = {
        "detection_rate": {k: round(float(np.mean(v)), 3) for k, v in sorted(detected.items())},
        "median_ttd_seconds": {
            k: (round(float(np.median(delays[k])), 1) if k in delays else None) for k in sorted(detected)
        },
        "false_alerts_per_asset_day": round(counts["false_alerts"] / days, 2) if days else None,
        "episodes": {k: len(v) for k, v in sorted(detected.items())},
        "false_alerts": counts["false_alerts"],
        "alerts_during_recovery": counts["alerts_during_recovery"],
        "normal_asset_days": round(days, 3),
    }
    if "false_alert_openings" in counts:  # one scenario's: where and when (seconds into its stream)
        out["false_alert_openings"] = counts["false_alert_openings"]
    if "naming" in counts:
        out["naming"] = _naming_out(counts)
    return out


def _naming_out(counts: dict[str, Any]) -> dict[str, Any]:
    """The ``naming`` of :func:`summarize`: of the alerts' ``top_sensors`` and, where the detector's
    alerts carry them, under ``suspect_sensors`` the same rates of their ``suspect_sensors``."""
    out = _naming_summary(counts["naming"])
    if "suspect_naming" in counts:
        out["suspect_sensors"] = _naming_summary(counts["suspect_naming"])
    return out


def evaluate(
    openings: list[tuple[str, float]], faults: list[Fault], stream: pd.DataFrame, *, grace_s: float = GRACE_S
) -> dict[str, Any]:
    """Detection rate and median time to detect per fault kind, false alerts per asset-day."""
    return summarize(tally(openings, faults, stream, grace_s=grace_s))


def normal_day(
    *, seed: int = 0, assets: int = 24, hours: float = 24.0, interval_s: float = 2.0
) -> pd.DataFrame:
    """Fault-free operation of the scenario's fleet (run 3: neither its history nor its fault stream),
    ``hours`` from midnight at the fault stream's reading interval: every alert on it is a false one,
    at every hour of the daily load cycle."""
    return Fleet(assets, seed=seed, run=3).run(hours * 3600.0, interval_s, substep_s=interval_s)


def _normal_day_summary(counts: dict[str, Any]) -> dict[str, Any]:
    """The fault-free day's part of :func:`summarize`: its false alerts, asset-days and their rate."""
    full = summarize(counts)
    keys = ("false_alerts", "false_alerts_per_asset_day", "false_alert_openings")
    return {k: full[k] for k in keys if k in full} | {"asset_days": full["normal_asset_days"]}


def run_plant_bench(
    settings: Settings,
    *,
    seed: int = 0,
    seeds: int = 1,
    assets: int = 24,
    minutes: float = 120.0,
    history_hours: float = 24.0,
    normal_hours: float = 24.0,
    detectors: tuple[str, ...] = DETECTORS,
    out: Path | None = None,
) -> int:
    """Run the scenarios of seeds ``seed .. seed + seeds - 1`` through every detector; print (and write)
    the JSON summary: per detector the numbers of all scenarios pooled (every episode and every normal
    asset-day counts once), and under ``per_seed`` each scenario's own.

    With ``normal_hours`` > 0 every detector also scores that many hours of each fleet's fault-free
    operation (:func:`normal_day`). Its alerts are false alerts and its asset-days normal ones: they
    enter ``false_alerts_per_asset_day`` beside the fault stream's quiet periods, and ``normal_day``
    reports them on their own.
    """
    import torch

    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if normal_hours < 0:
        raise ValueError(f"--normal-hours must be 0 or more, got {normal_hours}")
    if not detectors or set(detectors) - set(PLANT_DETECTORS):
        raise ValueError(f"--detectors must name some of {', '.join(PLANT_DETECTORS)}; got {detectors}")
    torch.set_num_threads(max(1, settings.model.torch_threads))
    started = time.perf_counter()
    tallies: dict[str, list[dict[str, Any]]] = {name: [] for name in detectors}
    quiet_tallies: dict[str, list[dict[str, Any]]] = {name: [] for name in detectors}
    per_seed: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = dict.fromkeys(detectors, 0.0)
    for s in range(seed, seed + seeds):
        history, stream, faults = scenario(
            seed=s, assets=assets, minutes=minutes, history_hours=history_hours
        )
        quiet = normal_day(seed=s, assets=assets, hours=normal_hours) if normal_hours > 0 else None
        log.warning(
            "scenario %d: %d history rows, %d stream rows, %d faults of %d kinds, %d fault-free rows",
            s,
            len(history),
            len(stream),
            len(faults),
            len({f.kind for f in faults}),
            0 if quiet is None else len(quiet),
        )
        per_seed[str(s)] = {}
        for name in detectors:
            t0 = time.perf_counter()
            detector = _DETECTORS[name](history, s)
            opened = _openings(stream, detector.flag(stream), settings.alerts)
            openings = [(asset, t) for asset, t, _ in opened]
            counts = tally(openings, faults, stream)
            if detector.explain is not None and detector.features is not None:
                top = settings.alerts.top_sensors
                firsts = first_alerts(openings, faults)
                said = detector.explain(stream, [opened[i][2] for _, i in firsts], top)
                episodes = [(f, entries) for (f, _), entries in zip(firsts, said, strict=True)]
                counts["naming"] = naming(episodes, detector.features, top)
                if detector.suspects is not None:
                    named = detector.suspects(stream, [opened[i][2] for _, i in firsts], top)
                    episodes = [(f, entries) for (f, _), entries in zip(firsts, named, strict=True)]
                    counts["suspect_naming"] = naming(episodes, {s: [s] for s in INPUT_SENSORS}, top)
            tallies[name].append(counts)
            per_seed[str(s)][name] = summarize(counts)
            if quiet is not None:
                quiet_counts = tally(alert_openings(quiet, detector.flag(quiet), settings.alerts), [], quiet)
                quiet_tallies[name].append(quiet_counts)
                # The scenario's false alerts of both normal periods; the fault stream's openings stay
                # named at the top, the fault-free day's under ``normal_day``.
                per_seed[str(s)][name] = summarize(pool([counts, quiet_counts])) | {
                    "false_alert_openings": counts["false_alert_openings"],
                    "normal_day": _normal_day_summary(quiet_counts),
                }
                if "naming" in counts:  # with each first alert's entries, as the fault stream's alone
                    per_seed[str(s)][name]["naming"] = _naming_out(counts)
            seconds[name] += time.perf_counter() - t0
            log.warning("seed %d: %s done in %.0f s", s, name, time.perf_counter() - t0)
    result: dict[str, Any] = {}
    for name in detectors:
        result[name] = summarize(pool(tallies[name] + quiet_tallies[name]))
        if quiet_tallies[name]:
            result[name]["normal_day"] = _normal_day_summary(pool(quiet_tallies[name]))
        result[name]["seconds"] = round(seconds[name], 1)
    result["per_seed"] = per_seed
    result["scenario"] = {
        "seeds": list(range(seed, seed + seeds)),
        "assets": assets,
        "minutes_per_asset": minutes,
        "history_hours": history_hours,
        "normal_hours_per_asset": normal_hours,
        "interval_s": 2.0,
        "fault_kinds": list(FAULT_KINDS),
        "alerts": settings.alerts.model_dump(),
        "grace_s": GRACE_S,
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(result, out)
    return 0
