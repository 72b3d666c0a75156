"""``dhag-pipeline bench feedback``: what operator labels and retraining buy on the simulated plant.

The scenario (fixed seed) is the plant bench's (:func:`pipeline.plantbench.scenario`): a model trained on
one simulated day of normal operation only, then a stream whose assets go through faults of every kind
in turn. The stream is cut in two at a fault-free boundary:

1. the *feedback period*: the first model's alerts; an operator answers a share of them
   (``label_fraction``, at most ``max_labels``) from the ground truth: ``anomaly`` when the asset had a
   fault under way or was still recovering from one (plus the grace time), else ``normal``; the
   period's readings outside alert episodes are the recent normal sample, as the retrainer takes it;
2. the retrainer's own functions (:func:`pipeline.retrain.judgement.judge`, the settings of the
   ``retrain`` section) train a candidate and run the gate, with the first model's reference sample
   (:func:`pipeline.plantmodel.history_reference` of its training history, as the demo publishes it);
3. the *evaluation period*, unseen by either model's training: precision (alerts opened during a fault),
   recall (fault episodes with an alert) and false alerts per asset-day, before and after; again with
   ``noise`` of the labels flipped (an operator who is sometimes wrong).

Runs in-process (no broker): the same features, hysteresis and training as the services.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dhag import DHAG
from dhag.health import rank_auroc
from pipeline.benchio import emit
from pipeline.config import AlertSettings, RetrainSettings, Settings
from pipeline.features import INPUT_SENSORS
from pipeline.labels import Label
from pipeline.labelstore import LabelledReading, LabelStore, Source
from pipeline.plantbench import evaluate, fault_windows, in_window, scenario
from pipeline.plantepisodes import tracker_for
from pipeline.plantmodel import history_reference, train_plant_model
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.judgement import Judgement, judge
from pipeline.retrain.samples import NormalSampler, Reading
from pipeline.simulator.faults import Fault

__all__ = ["Episode", "episodes", "run_feedback_bench", "run_quiet_feedback_bench"]

log = logging.getLogger(__name__)

_SLOT_S = 1800.0  # the scenario schedules one fault per asset per slot, inside the slot
# A day and more of stream per asset: 10 s between readings keeps it to a few hundred thousand rows.
INTERVAL_S = 10.0


@dataclass(frozen=True)
class Episode:
    """One alert episode: the asset, the opening row (index into the stream), opening and end time."""

    asset_id: str
    row: int
    opened_at: float
    resolved_at: float


def episodes(stream: pd.DataFrame, flags: np.ndarray, alerts: AlertSettings) -> list[Episode]:
    """The alert episodes the daemon's hysteresis makes of per-reading flags (open ones end at +inf)."""
    tracker = tracker_for(alerts)
    opened: dict[str, tuple[int, float]] = {}
    out = []
    assets, times = stream["asset_id"].tolist(), stream["t"].to_numpy(float)
    for n, (asset, t, over) in enumerate(zip(assets, times.tolist(), flags.tolist(), strict=True)):
        transition = tracker.observe(asset, over, float(over), t, now=t, seed=str(n))
        if transition is None:
            continue
        if transition.kind == "open":
            opened[asset] = (n, t)
        else:
            row, start = opened.pop(asset)
            out.append(Episode(asset, row, start, t))
    out += [Episode(asset, row, start, float("inf")) for asset, (row, start) in opened.items()]
    return sorted(out, key=lambda e: e.opened_at)


def _scores(model: DHAG, stream: pd.DataFrame) -> np.ndarray:
    """The model's score of every reading (NaN where its features cannot be computed)."""
    fmap = FeatureMap.of(model)
    rows = list(zip(stream["asset_id"].tolist(), _values(stream), strict=True))
    X, kept = fmap.matrix(rows)
    scores = np.full(len(stream), np.nan)
    scores[kept] = model.decision_function(X)
    return scores


def _flags(model: DHAG, stream: pd.DataFrame, scores: np.ndarray | None = None) -> np.ndarray:
    scores = _scores(model, stream) if scores is None else scores
    return np.nan_to_num(scores, nan=-np.inf) > model.threshold_


def _operating_point(model: DHAG, stream: pd.DataFrame, scores: np.ndarray) -> dict[str, Any]:
    """Where the threshold sits: the share of quiet readings (no fault, no after-effect) over it, and
    per fault kind how well the ``scores`` rank that kind's readings above quiet ones (per-reading
    AUROC), which tells a model that ranks worse from one that only calls fewer readings."""
    known = ~np.isnan(scores)
    fault = stream["fault"].fillna("").to_numpy()
    quiet = known & (fault == "") & ~stream["recovering"].astype(bool).to_numpy()
    auroc = {
        kind: round(rank_auroc(scores[quiet], scores[known & (fault == kind)]), 3)
        for kind in sorted(set(fault) - {""})
    }
    return {
        "threshold": round(float(model.threshold_), 4),
        "quiet_flag_rate": round(float(np.mean(scores[quiet] > model.threshold_)), 4),
        "reading_auroc": auroc,
    }


def _values(frame: pd.DataFrame) -> list[dict[str, float]]:
    sensors = list(INPUT_SENSORS)
    return [dict(zip(sensors, row, strict=True)) for row in frame[sensors].to_numpy(float).tolist()]


def _quality(model: DHAG, stream: pd.DataFrame, faults: list[Fault], alerts: AlertSettings) -> dict[str, Any]:
    scores = _scores(model, stream)
    found = episodes(stream, _flags(model, stream, scores), alerts)
    result = evaluate([(e.asset_id, e.opened_at) for e in found], faults, stream)
    n_alerts = len(found)
    total = sum(result["episodes"].values())
    detected = sum(round(rate * result["episodes"][k]) for k, rate in result["detection_rate"].items())
    return {
        "precision": round((n_alerts - result["false_alerts"]) / n_alerts, 3) if n_alerts else None,
        "recall": round(detected / total, 3) if total else None,
        "false_alerts_per_asset_day": result["false_alerts_per_asset_day"],
        "alerts": n_alerts,
        "false_alerts": result["false_alerts"],
        "detection_rate": result["detection_rate"],
        "operating_point": _operating_point(model, stream, scores),
    }


def _before(reference: list[Reading], live: pd.DataFrame) -> list[Reading]:
    """The history's reference sample dated to end before the live readings begin, as a plant's history
    precedes its operation. The simulator starts every run on one clock; left there, the history would
    share timestamps with the live period, and the retrainer's rule that keeps readings near a held-out
    label out of training would drop history readings that only share their time with it."""
    shift = max(r[1] for r in reference) - float(live["t"].min()) + INTERVAL_S if reference else 0.0
    return [(a, t - max(shift, 0.0), v) for a, t, v in reference]


def feedback_data(
    model: DHAG,
    period: pd.DataFrame,
    faults: list[Fault],
    settings: Settings,
    *,
    rng: np.random.Generator,
    label_fraction: float,
    max_labels: int,
    wrong: float = 0.0,
) -> tuple[list[LabelledReading], list[tuple[str, float, dict[str, float]]], int]:
    """Labels from the ground truth for a share of the period's alerts (``wrong`` of them flipped), the
    period's normal sample as the retrainer keeps it given those labels, and the number of alerts in
    the period."""
    cfg = settings.retrain
    found = episodes(period, _flags(model, period), settings.alerts)
    n_labels = min(max_labels, int(round(label_fraction * len(found))))
    chosen = sorted(rng.choice(len(found), size=n_labels, replace=False).tolist()) if n_labels else []
    values = _values(period)
    windows = fault_windows(faults, period)
    labelled = []
    for i, k in enumerate(chosen):
        e = found[k]
        y = int(in_window(windows, e.asset_id, e.opened_at))
        labelled.append(
            LabelledReading(
                f"alert:{e.row}",
                str(e.row),
                e.asset_id,
                e.opened_at,
                values[e.row],
                y,
                "truth",
                e.opened_at,
                i,
            )
        )
    if wrong:
        labelled = _flip(labelled, wrong, rng)
    # The normal sample as the retrainer takes it: one reading in N, into a bounded store, leaving out
    # the readings near the alert episodes, except those of the alerts labelled normal.
    store = LabelStore(":memory:")
    assets, times = period["asset_id"].tolist(), period["t"].to_numpy(float).tolist()
    sampler = NormalSampler(cfg.normal_sample_every)
    sampled = [n for n, asset in enumerate(assets) if sampler.take(asset)]
    for chunk in range(0, len(sampled), 5000):
        rows = [(assets[n], times[n], values[n]) for n in sampled[chunk : chunk + 5000]]
        store.add_readings(rows, keep=cfg.normal_sample_size, retire_s=cfg.asset_retire_s)
    for e in found:
        resolved = {"state": "resolved", "ts": e.resolved_at} if np.isfinite(e.resolved_at) else {}
        store.add_alert({"alert_id": str(e.row), "asset_id": e.asset_id, "opened_at": e.opened_at} | resolved)
    for r in labelled:
        verdict = {"alert_id": r.alert_id, "label": "anomaly" if r.y else "normal", "operator": r.operator}
        store.add_label(Label.model_validate(verdict | {"ts": r.given_at}), Source("bench", 0, r.label_id))
    return labelled, store.normal_sample(margin_s=cfg.episode_margin_s), len(found)


def _flip(labelled: list[LabelledReading], share: float, rng: np.random.Generator) -> list[LabelledReading]:
    n = int(round(share * len(labelled)))
    wrong = set(rng.choice(len(labelled), size=n, replace=False).tolist()) if n else set()
    return [replace(r, y=1 - r.y) if i in wrong else r for i, r in enumerate(labelled)]


def _summary(verdict: Judgement) -> dict[str, Any]:
    return {
        "gate": "promoted" if verdict.accepted else "rejected",
        "gate_reasons": verdict.reasons,
        "holdout_current": verdict.current_metrics,
        "holdout_candidate": verdict.candidate_metrics,
        "train_seconds": round(verdict.train_seconds, 1),
    }


def run_feedback_bench(
    settings: Settings,
    *,
    seed: int = 0,
    assets: int = 24,
    minutes: float = 1800.0,
    feedback_hours: float = 24.0,
    label_fraction: float = 0.5,
    max_labels: int = 50,
    noise: float = 0.1,
    out: Path | None = None,
) -> int:
    """Run the scenario; print (and write) the JSON summary."""
    import torch

    torch.set_num_threads(max(1, settings.model.torch_threads))
    started = time.perf_counter()
    history, stream, faults = scenario(seed=seed, assets=assets, minutes=minutes, interval_s=INTERVAL_S)
    start = float(stream["t"].min())
    # At a slot boundary, where no fault is under way (the scenario's faults stay inside their slot).
    cut = start + _SLOT_S * int(feedback_hours * 3600 // _SLOT_S)
    if cut >= float(stream["t"].max()):
        raise ValueError(f"minutes ({minutes:g}) must leave an evaluation period after {feedback_hours:g} h")
    period, later = stream[stream["t"] < cut], stream[stream["t"] >= cut]
    later_faults = [f for f in faults if f.onset >= cut]
    log.warning(
        "scenario: %d feedback rows, %d evaluation rows, %d faults", len(period), len(later), len(faults)
    )
    model = train_plant_model(history, seed=seed, fleet={"bench": seed}, time_budget=None)

    def data(wrong: float) -> tuple[list[LabelledReading], list[tuple[str, float, dict[str, float]]], int]:
        # The same generator seed: both runs label the same alerts; the noisy one then flips some.
        rng = np.random.default_rng(seed + 7)
        return feedback_data(
            model,
            period,
            faults,
            settings,
            rng=rng,
            label_fraction=label_fraction,
            max_labels=max_labels,
            wrong=wrong,
        )

    labelled, normal, n_alerts = data(0.0)
    noisy_labels, noisy_normal, _ = data(noise)
    cfg: RetrainSettings = settings.retrain.model_copy(update={"seed": seed})
    reference = _before(history_reference(history, cfg.reference_sample_size), stream)
    clean = judge(model, labelled, normal, cfg, reference=reference)
    noisy = judge(model, noisy_labels, noisy_normal, cfg, reference=reference)
    result: dict[str, Any] = {
        "before": _quality(model, later, later_faults, settings.alerts),
        "after": _quality(clean.candidate, later, later_faults, settings.alerts) | _summary(clean),
        "after_noisy_labels": _quality(noisy.candidate, later, later_faults, settings.alerts)
        | _summary(noisy),
        "labels_used": len(labelled),
        "feedback_alerts": n_alerts,
        "labels": {
            "anomaly": sum(r.y for r in labelled),
            "normal": sum(1 - r.y for r in labelled),
            "flipped_in_noisy_run": sum(a.y != b.y for a, b in zip(labelled, noisy_labels, strict=True)),
        },
        "normal_sample": len(normal),
        "normal_sample_noisy_labels": len(noisy_normal),
        "reference_sample": len(reference),
        "scenario": {
            "seed": seed,
            "assets": assets,
            "minutes_per_asset": minutes,
            "interval_s": INTERVAL_S,
            "feedback_minutes": (cut - start) / 60,
            "evaluation_minutes": minutes - (cut - start) / 60,
            "label_fraction": label_fraction,
            "max_labels": max_labels,
            "noise": noise,
            "retrain": cfg.model_dump(),
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    emit(result, out)
    return 0


def _false_alerts(model: DHAG, day: pd.DataFrame, alerts: AlertSettings) -> dict[str, Any]:
    """False alerts of ``model`` on fault-free operation: every alert it opens there."""
    counts = evaluate([(e.asset_id, e.opened_at) for e in episodes(day, _flags(model, day), alerts)], [], day)
    return {k: counts[k] for k in ("false_alerts", "false_alerts_per_asset_day", "normal_asset_days")}


def run_quiet_feedback_bench(
    settings: Settings,
    *,
    seed: int = 0,
    assets: int = 24,
    quiet_hours: float = 24.0,
    minutes: float = 360.0,
    label_fraction: float = 0.5,
    max_labels: int = 50,
    out: Path | None = None,
) -> int:
    """The feedback loop on a plant that runs normally: the model trained on one day of history alerts
    on ``quiet_hours`` of fault-free operation (run 3), an operator answers a share of those alerts from
    the ground truth (all ``normal``), and the retrainer's own functions build and gate a candidate.
    Both models are then measured on another fault-free day (run 4: false alerts) and on the plant
    bench's fault stream (``minutes`` per asset, run 2: detection), which neither trained on."""
    import torch

    from pipeline.simulator.fleet import Fleet

    torch.set_num_threads(max(1, settings.model.torch_threads))
    started = time.perf_counter()
    history, stream, faults = scenario(seed=seed, assets=assets, minutes=minutes, interval_s=INTERVAL_S)
    period = Fleet(assets, seed=seed, run=3).run(quiet_hours * 3600.0, INTERVAL_S, substep_s=INTERVAL_S)
    fresh = Fleet(assets, seed=seed, run=4).run(24 * 3600.0, INTERVAL_S, substep_s=INTERVAL_S)
    model = train_plant_model(history, seed=seed, fleet={"bench": seed}, time_budget=None)
    labelled, normal, n_alerts = feedback_data(
        model,
        period,
        [],
        settings,
        rng=np.random.default_rng(seed + 7),
        label_fraction=label_fraction,
        max_labels=max_labels,
    )
    cfg: RetrainSettings = settings.retrain.model_copy(update={"seed": seed})
    reference = _before(history_reference(history, cfg.reference_sample_size), period)
    verdict = judge(model, labelled, normal, cfg, reference=reference)

    def measured(m: DHAG) -> dict[str, Any]:
        return {
            "fault_free_day": _false_alerts(m, fresh, settings.alerts),
            "fault_stream": _quality(m, stream, faults, settings.alerts),
        }

    result: dict[str, Any] = {
        "before": measured(model),
        "after": measured(verdict.candidate) | _summary(verdict),
        "feedback_alerts": n_alerts,
        "labels_used": len(labelled),
        "labels": {"anomaly": sum(r.y for r in labelled), "normal": sum(1 - r.y for r in labelled)},
        "normal_sample": len(normal),
        "reference_sample": len(reference),
        "scenario": {
            "seed": seed,
            "assets": assets,
            "quiet_hours": quiet_hours,
            "evaluation": f"another fault-free day (24 h) and a fault stream of {minutes:g} min per asset",
            "interval_s": INTERVAL_S,
            "label_fraction": label_fraction,
            "max_labels": max_labels,
            "retrain": cfg.model_dump(),
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    emit(result, out)
    return 0
