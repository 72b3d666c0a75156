"""``dhag-pipeline bench plant``: detection quality on the simulated plant, DHAG beside two baselines.

The scenario (fixed seed): a fleet trained on one simulated day of normal operation (run 0), then a
stream of ``minutes`` simulated minutes per asset (run 2) in which the assets go through faults of the
kinds their machine type can have, in turn (each asset of a type going on where the one before stopped,
so that every type meets every kind it can have), with normal periods between them.

Each detector flags readings (DHAG's with the daemon's rule for stuck sensors too,
:mod:`pipeline.frozen`, as ``alerts.frozen_sensor_factor`` sets it); the pipeline's own alert
hysteresis (:class:`~pipeline.alerts.AlertTracker` with the configured ``alerts`` settings) turns flags
into alerts, exactly as the daemon does. Then:

* detection rate per fault kind: episodes with an alert opened between onset and end + grace,
* median time to detect: first such alert minus onset (simulated seconds),
* alerts per detected episode: the alerts opened in a detected episode's window (onset to end + grace),
  as many as the operator was paged for the one fault (an alert that resolves while the fault goes on
  and opens again counts twice),
* false alerts per asset-day: alerts opened outside every fault episode, per day of normal operation:
  the fault stream's quiet periods and a fault-free day of the same fleet (:func:`normal_day`).
  An episode lasts from onset until the asset has recovered (:func:`fault_windows`: its cause over and
  every temperature back within the sensors' noise of its fault-free value) plus grace. Alerts opened
  after a fault's end + grace but before that recovery (a bearing cooling down) are counted apart as
  ``alerts_during_recovery``: neither false nor detections.
* episodes covered by an open alert: per fault kind, those that began while their asset's alert, opened
  before the onset, was still open (``covered_by_open_alert``; the hold of ``alerts.resolve_hold_s``
  keeps it open through the fault), and of them those counted undetected for want of an alert of their
  own (``covered_by_open_alert_undetected``): the operator was paged already, not a miss of the model.

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
at once (``PROCESS_FAULT_SENSORS``). ``chance_*`` is what entries drawn at random from the
detector's features would score. DHAG models and ``sigma3`` (raw sensors ranked by how many standard
deviations they lie from their mean) are measured; ``hst`` names nothing. For DHAG models ``naming`` also
holds, under ``suspect_sensors``, the same rates of the alerts' ``suspect_sensors``
(:meth:`~pipeline.hotswap.ActiveModel.suspect_sensors`: which single raw sensor, read differently, makes
the reading most normal), their chance that of raw sensors drawn at random.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.benchio import emit
from pipeline.config import Settings
from pipeline.features import INPUT_SENSORS
from pipeline.frozen import frozen_first
from pipeline.plantdetectors import BUILDERS, PLANT_DETECTORS
from pipeline.plantepisodes import alert_openings, covered_counts, fault_windows, in_window, openings_at
from pipeline.plantnaming import GRACE_S, first_alerts, naming, naming_out, pool_naming
from pipeline.simulator.faults import FAULT_KINDS, Fault, applicable_kinds, make_fault
from pipeline.simulator.fleet import Fleet

__all__ = [
    "PLANT_DETECTORS",
    "evaluate",
    "fault_windows",
    "in_window",
    "normal_day",
    "pool",
    "run_plant_bench",
]
__all__ += ["FAULT_SLOT_MINUTES", "HISTORY_INTERVAL_S", "STREAM_INTERVAL_S", "scenario", "summarize", "tally"]

log = logging.getLogger(__name__)

DETECTORS = ("dhag", "sigma3", "hst")
DAY_S = 86_400.0
HISTORY_INTERVAL_S = 30.0  # seconds between the training history's readings
STREAM_INTERVAL_S = 2.0  # seconds between the fault stream's (and the fault-free hours') readings
FAULT_SLOT_MINUTES = 30.0  # the fault stream gives each asset one fault per slot: fewer minutes, none


def scenario(
    *,
    seed: int = 0,
    assets: int = 24,
    minutes: float = 120.0,
    interval_s: float = STREAM_INTERVAL_S,
    history_hours: float = 24.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Fault]]:
    """``(history, stream, faults)``: normal operation for training (a day unless ``history_hours``
    says otherwise), then a stream with scheduled faults.

    Every asset gets one fault per 30 simulated minutes (onset 10 minutes in, 10-15 minutes long),
    cycling through the kinds its machine type can have, each asset of a type going on from the kind
    after the last one the asset of that type before it had: together a type's assets meet its kinds as
    evenly as the slots allow (each asset meets them all given as many slots as its type has kinds).
    """
    history = Fleet(assets, seed=seed, run=0).run(history_hours * 3600.0, HISTORY_INTERVAL_S)
    start = 6 * 3600.0
    fleet = Fleet(assets, seed=seed, run=2, start_s=start)
    rng = np.random.default_rng(seed + 1000)
    slots = int(minutes // FAULT_SLOT_MINUTES)
    faults = []
    of_type: dict[str, int] = {}  # assets of each type so far: each goes on where the one before stopped
    for i, (asset, mtype) in enumerate(zip(fleet.asset_ids, fleet.machine_types, strict=True)):
        kinds = applicable_kinds(mtype)
        j = of_type[mtype] = of_type.get(mtype, -1) + 1
        for k in range(slots):
            onset = start + k * 1800.0 + 600.0
            kind = kinds[(j * slots + k) % len(kinds)]
            faults.append(make_fault(i, asset, kind, onset, float(rng.uniform(600, 900)), rng))
    fleet.faults = sorted(faults, key=lambda f: f.onset)
    stream = fleet.run(minutes * 60.0, interval_s, substep_s=interval_s)
    return history, stream, fleet.faults


# -- flags -> alerts -> numbers ------------------------------------------------------------------
def tally(
    openings: list[tuple[str, float]],
    faults: list[Fault],
    stream: pd.DataFrame,
    *,
    grace_s: float = GRACE_S,
    spans: list[tuple[str, float, float]] | None = None,
) -> dict[str, Any]:
    """The raw counts behind :func:`evaluate`: per fault kind which episodes were detected and how fast,
    the false alerts, the alerts during recovery and the asset-days of normal operation. Tallies of
    several scenarios add up with :func:`pool`.

    Given the alerts' ``spans`` (``(asset_id, opened_at, resolved_at)``), it also counts per kind the
    episodes that began while their asset's alert was open, and of them those without an alert of
    their own, counted undetected: the operator was paged already
    (:func:`~pipeline.plantepisodes.covered_counts`)."""
    by_asset: dict[str, list[float]] = {}
    for asset, t in openings:
        by_asset.setdefault(asset, []).append(t)
    detected: dict[str, list[bool]] = {}
    delays: dict[str, list[float]] = {}
    paged: dict[str, list[int]] = {}  # per detected episode, the alerts opened in its window
    for f in faults:
        hits = [t for t in by_asset.get(f.asset_id, []) if f.onset <= t <= f.end + grace_s]
        detected.setdefault(f.kind, []).append(bool(hits))
        if hits:
            delays.setdefault(f.kind, []).append(min(hits) - f.onset)
            paged.setdefault(f.kind, []).append(len(hits))
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
        "alerts_per_episode": paged,
        "false_alerts": int(false),
        "false_alert_openings": [{"asset_id": asset, "stream_s": round(t - t0, 1)} for asset, t in false_at],
        "alerts_during_recovery": int(after_effect),
        "normal_asset_days": normal_rows * interval / DAY_S,
    } | ({} if spans is None else covered_counts(spans, faults, detected))


def pool(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """One tally of several scenarios: episodes and delays side by side, counts and asset-days summed."""
    detected: dict[str, list[bool]] = {}
    delays: dict[str, list[float]] = {}
    paged: dict[str, list[int]] = {}
    for one in tallies:
        for kind, hits in one["detected"].items():
            detected.setdefault(kind, []).extend(hits)
        for kind, seconds in one["delays"].items():
            delays.setdefault(kind, []).extend(seconds)
        for kind, alerts in one.get("alerts_per_episode", {}).items():
            paged.setdefault(kind, []).extend(alerts)
    pooled = {
        "detected": detected,
        "delays": delays,
        "alerts_per_episode": paged,
        "false_alerts": sum(one["false_alerts"] for one in tallies),
        "alerts_during_recovery": sum(one["alerts_during_recovery"] for one in tallies),
        "normal_asset_days": sum(one["normal_asset_days"] for one in tallies),
    }
    for key in ("covered_by_open_alert", "covered_by_open_alert_undetected"):
        if counted := [one[key] for one in tallies if key in one]:
            pooled[key] = {k: sum(c.get(k, 0) for c in counted) for k in detected}
    for key in ("naming", "suspect_naming"):
        if named := [one[key] for one in tallies if key in one]:
            pooled[key] = pool_naming(named)
    return pooled


def summarize(counts: dict[str, Any]) -> dict[str, Any]:
    """Detection rate, median time to detect and alerts per detected episode per fault kind, false
    alerts per asset-day."""
    detected, delays, days = counts["detected"], counts["delays"], counts["normal_asset_days"]
    paged = counts.get("alerts_per_episode", {})
    out = {
        "detection_rate": {k: round(float(np.mean(v)), 3) for k, v in sorted(detected.items())},
        "median_ttd_seconds": {
            k: (round(float(np.median(delays[k])), 1) if k in delays else None) for k in sorted(detected)
        },
        "alerts_per_detected_episode": {
            k: (round(float(np.mean(paged[k])), 2) if paged.get(k) else None) for k in sorted(detected)
        },
        "false_alerts_per_asset_day": round(counts["false_alerts"] / days, 2) if days else None,
        "episodes": {k: len(v) for k, v in sorted(detected.items())},
        "false_alerts": counts["false_alerts"],
        "alerts_during_recovery": counts["alerts_during_recovery"],
        "normal_asset_days": round(days, 3),
    }
    for key in ("covered_by_open_alert", "covered_by_open_alert_undetected"):
        if key in counts:
            out[key] = {k: counts[key].get(k, 0) for k in sorted(detected)}
    if "false_alert_openings" in counts:  # one scenario's: where and when (seconds into its stream)
        out["false_alert_openings"] = counts["false_alert_openings"]
    if "naming" in counts:
        out["naming"] = naming_out(counts)
    return out


def evaluate(
    openings: list[tuple[str, float]], faults: list[Fault], stream: pd.DataFrame, *, grace_s: float = GRACE_S
) -> dict[str, Any]:
    """Detection rate and median time to detect per fault kind, false alerts per asset-day."""
    return summarize(tally(openings, faults, stream, grace_s=grace_s))


def normal_day(
    *, seed: int = 0, assets: int = 24, hours: float = 24.0, interval_s: float = STREAM_INTERVAL_S
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


def _flags(detector: Any, stream: pd.DataFrame, factor: float) -> tuple[np.ndarray, dict[int, list[Any]]]:
    """A detector's flags of ``stream``, with the readings whose sensors the daemon judges stuck
    (``alerts.frozen_sensor_factor``: ``factor``) flagged too, and those sensors by position."""
    flags = detector.flag(stream)
    if detector.stuck is None or not factor:
        return flags, {}
    stuck = detector.stuck(stream, factor)
    flags[list(stuck)] = True
    return flags, stuck


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
    if minutes < FAULT_SLOT_MINUTES:
        raise ValueError(f"--minutes {minutes:g} schedules no fault; give at least {FAULT_SLOT_MINUTES:g}")
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
            detector = BUILDERS[name](history, s)
            factor = settings.alerts.frozen_sensor_factor
            flags, frozen = _flags(detector, stream, factor)
            opened = openings_at(stream, flags, settings.alerts)
            openings = [(asset, t) for asset, t, _, _ in opened]
            spans = [(asset, t, until) for asset, t, _, until in opened]
            counts = tally(openings, faults, stream, spans=spans)
            if detector.explain is not None and detector.features is not None:
                top = settings.alerts.top_sensors
                firsts = first_alerts(openings, faults)
                said = detector.explain(stream, [opened[i][2] for _, i in firsts], top)
                episodes = [(f, entries) for (f, _), entries in zip(firsts, said, strict=True)]
                counts["naming"] = naming(episodes, detector.features, top)
                if detector.suspects is not None:
                    rows = [opened[i][2] for _, i in firsts]
                    named = detector.suspects(stream, rows, top)
                    named = [
                        frozen_first(frozen.get(j, []), e, top) for j, e in zip(rows, named, strict=True)
                    ]
                    episodes = [(f, entries) for (f, _), entries in zip(firsts, named, strict=True)]
                    counts["suspect_naming"] = naming(episodes, {s: [s] for s in INPUT_SENSORS}, top)
            tallies[name].append(counts)
            per_seed[str(s)][name] = summarize(counts)
            if quiet is not None:
                quiet_flags = _flags(detector, quiet, factor)[0]
                quiet_counts = tally(alert_openings(quiet, quiet_flags, settings.alerts), [], quiet)
                quiet_tallies[name].append(quiet_counts)
                # The scenario's false alerts of both normal periods; the fault stream's openings stay
                # named at the top, the fault-free day's under ``normal_day``.
                per_seed[str(s)][name] = summarize(pool([counts, quiet_counts])) | {
                    "false_alert_openings": counts["false_alert_openings"],
                    "normal_day": _normal_day_summary(quiet_counts),
                }
                if "naming" in counts:  # with each first alert's entries, as the fault stream's alone
                    per_seed[str(s)][name]["naming"] = naming_out(counts)
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
        "interval_s": STREAM_INTERVAL_S,
        "fault_kinds": list(FAULT_KINDS),
        "alerts": settings.alerts.model_dump(),
        "grace_s": GRACE_S,
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(result, out)
    return 0
