"""``dhag-pipeline bench drift``: does the score-drift signal fire on a healthy plant, and does it see
the plant change?

A plant model is trained as ``models train`` trains it (:func:`~pipeline.plantmodel.train_plant_model`,
a day of normal history of the simulated fleet), then scores ``days`` simulated days of each scenario,
one reading per asset every 30 s, in time order:

* ``steady``: normal operation only: the daily load and ambient cycles, set-point changes, noise;
* ``faults``: the same, with one asset at a time in a three-hour fault every 13 hours: faults are
  for the alerts, not drift;
* ``hotter_bearings``: from day 2 on, every machine's bearings run 10 % hotter above ambient than in
  training (a new lubricant, a warmer cooling loop): the plant changed, the model should be retrained;
* ``flow_meters_high``: from day 2 on, every flow meter reads 5 % high (a recalibration): the
  plant's sensors changed.

Each scenario's scores go to :class:`~pipeline.drift.ScoreDriftMonitor` as the daemon feeds it, once
with the configured ``drift`` settings and once fed every score (``bucket_s: 0``) for comparison. The
results: detections (the changes reported), the returns of the scores to the level a reported change
left (found, not reported), detections per day before any change (false ones), hours from the change
to the first detection, and the share of readings the model flagged before and after the change.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.benchio import emit
from pipeline.config import Settings
from pipeline.drift import ScoreDriftMonitor
from pipeline.features import INPUT_SENSORS, PlantFeatures
from pipeline.plantmodel import train_plant_model
from pipeline.simulator.faults import applicable_kinds, make_fault
from pipeline.simulator.fleet import Fleet

__all__ = ["SCENARIOS", "drift_scenario", "run_drift_bench", "watch"]

log = logging.getLogger(__name__)

DAY_S = 86_400.0
INTERVAL_S = 30.0
START_S = 8 * 3600.0
CHANGE_AFTER_S = 2 * DAY_S  # when the shift scenarios' change begins, from the stream's start
SCENARIOS = ("steady", "faults", "hotter_bearings", "flow_meters_high")


def drift_scenario(name: str, *, seed: int, assets: int, days: float) -> tuple[pd.DataFrame, float | None]:
    """``(stream, change_at)``: ``days`` simulated days of scenario ``name`` and the simulated time its
    change begins (None for a scenario without one)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown drift scenario {name!r}; known: {', '.join(SCENARIOS)}")
    fleet = Fleet(assets, seed=seed, run=1, start_s=START_S)
    duration = days * DAY_S
    if name == "faults":
        rng = np.random.default_rng(seed + 2000)
        faults = []
        for k in range(int(duration // (13 * 3600))):
            i = k % assets
            kinds = applicable_kinds(fleet.machine_types[i])
            onset = START_S + k * 13 * 3600.0 + 5 * 3600.0
            faults.append(make_fault(i, fleet.asset_ids[i], kinds[k % len(kinds)], onset, 3 * 3600.0, rng))
        fleet.faults = sorted(faults, key=lambda f: f.onset)
    if name not in ("hotter_bearings", "flow_meters_high"):
        return fleet.run(duration, INTERVAL_S), None
    before = fleet.run(min(CHANGE_AFTER_S, duration), INTERVAL_S)
    change_at = fleet.t
    if name == "hotter_bearings":
        fleet.plates = dataclasses.replace(fleet.plates, bearing_rise=fleet.plates.bearing_rise * 1.1)
        fleet.physics.plates = fleet.plates
    after = fleet.run(max(0.0, duration - CHANGE_AFTER_S), INTERVAL_S)
    if name == "flow_meters_high":
        after["flow_m3h"] *= 1.05
    return pd.concat([before, after], ignore_index=True), change_at


def watch(
    scores: np.ndarray,
    times: np.ndarray,
    *,
    delta: float,
    bucket_s: float,
    change_at: float | None,
    batch: int = 500,
) -> dict[str, Any]:
    """Feed ``scores`` (in time order) to a monitor in batches, as the daemon does; summarise what it
    reported against the scenario's change, and how many changes it found that were the scores'
    return to the level a reported change left, which it did not report (``returns_not_reported``)."""
    monitor = ScoreDriftMonitor(delta=delta, bucket_s=bucket_s)
    at: list[float] = []
    for i in range(0, scores.size, batch):
        for event in monitor.update("bench", scores[i : i + batch], times[i : i + batch]):
            at.append(float(times[event.scores_seen - 1]))
    start, end = float(times[0]), float(times[-1])
    before_end = change_at if change_at is not None else end
    false = [t for t in at if t < before_end]
    after = [t for t in at if change_at is not None and t >= change_at]
    return {
        "bucket_s": bucket_s,
        "detections": len(at),
        "returns_not_reported": monitor.returns,
        "false_detections_per_day": round(len(false) / max((before_end - start) / DAY_S, 1e-9), 3),
        "hours_to_first_detection": round((after[0] - change_at) / 3600.0, 2) if after else None,
        "detection_hours": [round((t - start) / 3600.0, 2) for t in at],
    }


def run_drift_bench(
    settings: Settings,
    *,
    seed: int = 0,
    assets: int = 24,
    days: float = 7.0,
    history_hours: float = 24.0,
    out: Path | None = None,
) -> int:
    """Train, run every scenario, print the JSON summary (also to ``out``); 0 on success."""
    started = time.perf_counter()
    history = Fleet(assets, seed=seed, run=0).run(history_hours * 3600.0, INTERVAL_S)
    # No time limit: the benchmark must train the same model on any machine.
    model = train_plant_model(history, seed=seed, fleet={"bench": seed}, time_budget=None)
    features = PlantFeatures.from_model(model)
    assert features is not None
    drift = settings.drift
    results: dict[str, Any] = {}
    for name in SCENARIOS:
        stream, change_at = drift_scenario(name, seed=seed, assets=assets, days=days)
        X = features.transform(stream[list(INPUT_SENSORS)].to_numpy(float), stream["asset_id"].tolist())
        scores, times = model.decision_function(X), stream["t"].to_numpy(float)
        flagged = scores > model.threshold_
        changed = times >= change_at if change_at is not None else np.zeros(times.size, dtype=bool)
        results[name] = {
            "readings": int(scores.size),
            "change_after_hours": round((change_at - times[0]) / 3600.0, 2) if change_at else None,
            "flagged_share_before": round(float(flagged[~changed].mean()), 5),
            "flagged_share_after": round(float(flagged[changed].mean()), 5) if changed.any() else None,
            "configured": watch(
                scores, times, delta=drift.delta, bucket_s=drift.bucket_s, change_at=change_at
            ),
            "every_score": watch(scores, times, delta=drift.delta, bucket_s=0.0, change_at=change_at),
        }
        log.info("drift bench: %s done (%.0f s so far)", name, time.perf_counter() - started)
    summary = {
        "settings": {"seed": seed, "assets": assets, "days": days, "history_hours": history_hours},
        "drift": {"delta": drift.delta, "bucket_s": drift.bucket_s},
        "model": {"threshold": float(model.threshold_)},
        "scenarios": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(summary, out)
    return 0
