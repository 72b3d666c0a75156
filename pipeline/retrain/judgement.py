"""Judge a candidate against the current model: split the data, train the candidate, score both models on
the holdout and apply the gate.

Plain functions on plain data, so the retrainer service, the tests and ``bench feedback`` share them:

* :func:`~pipeline.retrain.samples.split` cuts the data into training, holdout and calibration parts;
* :func:`~pipeline.retrain.training.train_candidate` trains the candidate;
* :func:`evaluate` scores one model on the holdout at its own calibrated threshold, :func:`compare`
  both on the held-out readings both can score: a reading a model cannot score
  (:func:`~pipeline.retrain.unscorable.scores_of`: its network overflows on values near float32's
  limit, which the daemon dead-letters) is left out of the gate, counted in the run report, not the
  end of the run;
* :func:`~pipeline.retrain.gate.gate` accepts the candidate unless it is worse than the current model
  beyond the tolerances;
* :func:`judge` does all of it for one current model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dhag import DHAG
from pipeline.config import RetrainSettings
from pipeline.features import keep_references
from pipeline.labelstore import LabelledReading
from pipeline.retrain.faultprobes import fault_probes
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.gate import gate
from pipeline.retrain.samples import Reading, TrainingData, away_from_faults, carry_forward, split
from pipeline.retrain.training import train_candidate
from pipeline.retrain.unscorable import by_part, scores_of

__all__ = ["Judgement", "compare", "evaluate", "judge"]

log = logging.getLogger(__name__)


_Part = list[tuple[str, dict[str, float]]]
# Per part of the holdout: a model's score of each reading (NaN where it has none), which it refused.
_Scored = dict[str, tuple[np.ndarray, np.ndarray]]


def _holdout(data: TrainingData, fmap: FeatureMap) -> dict[str, _Part]:
    """The held-out readings each gate metric is computed on, by part (the fault probes are made from
    the reference holdout, or the recent one without a reference, and are the same for every model):
    of the readings taken running, as the gate judges no reading at standstill and these would widen
    each sensor's spread, and so each push, by the gap between a stopped machine and a running one."""
    normal_rows = [
        (a, v) for a, _, v in fmap.running(data.reference_holdout) or fmap.running(data.normal_holdout)
    ]
    return {
        "probes": fault_probes(normal_rows, fmap.inputs, reads=lambda rows: fmap.matrix(rows)[0]),
        "confirmed": [(r.asset_id, r.values) for r in data.labelled_holdout if r.y == 1],
        "rejected": [(r.asset_id, r.values) for r in data.labelled_holdout if r.y == 0],
        "normal": [(a, v) for a, _, v in data.normal_holdout],
        "reference": [(a, v) for a, _, v in data.reference_holdout],
    }


def _holdout_scores(model: DHAG, parts: dict[str, _Part]) -> _Scored:
    """Per part, ``(scores, refused)``: the model's score of each reading (NaN where it cannot read it,
    a sensor missing, or cannot score it) and which readings it read but refused to score."""
    fmap = FeatureMap.of(model)
    out = {}
    for part, rows in parts.items():
        X, kept = fmap.matrix(rows)
        scores = np.full(len(rows), np.nan)
        scores[kept] = scores_of(model, X)
        out[part] = (scores, kept & np.isnan(scores))
    return out


def _metrics(model: DHAG, scored: _Scored, judged: dict[str, np.ndarray]) -> dict[str, float | int | None]:
    """The gate's metrics of one model from its scores, on the ``judged`` readings of each part."""

    def flagged(part: str) -> tuple[float | None, int]:
        scores = scored[part][0][judged[part]]
        if not scores.size:
            return None, 0
        return float(np.mean(scores > model.threshold_)), int(scores.size)

    probe_recall, n_probes = flagged("probes")
    recall, n_pos = flagged("confirmed")
    false_alarms, n_neg = flagged("rejected")
    far, n_normal = flagged("normal")
    reference_far, n_reference = flagged("reference")
    return {
        "recall": recall,
        "false_alarm_rate": false_alarms,
        "normal_far": far,
        "reference_far": reference_far,
        "threshold": float(model.threshold_),
        "confirmed": n_pos,
        "rejected": n_neg,
        "normal": n_normal,
        "reference": n_reference,
        "probe_recall": probe_recall,
        "probes": n_probes,
    }


def _refused(scored: _Scored) -> dict[str, int]:
    return {part: int(refused.sum()) for part, (_, refused) in scored.items() if refused.any()}


def evaluate(model: DHAG, data: TrainingData) -> dict[str, Any]:
    """One model on the holdout, at its own threshold.

    ``recall``: share of confirmed anomalies scored over the threshold; ``false_alarm_rate``: share of
    rejected alerts still over it; ``normal_far``: share of recent normal readings over it;
    ``reference_far``: share of the held-out reference sample over it (None where a part is empty);
    ``probe_recall``: share of gross-fault probes over it. Readings the model cannot score are left
    out, and counted by part in ``unscored``.
    """
    scored = _holdout_scores(model, _holdout(data, FeatureMap.of(model)))
    metrics: dict[str, Any] = _metrics(model, scored, {p: ~np.isnan(s) for p, (s, _) in scored.items()})
    return metrics | {"unscored": _refused(scored)}


def compare(
    current: DHAG, candidate: DHAG, data: TrainingData
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, int]]]:
    """Both models' metrics (:func:`evaluate`) on the held-out readings both can score, and by model
    and part, how many readings each could not (``{"current": {...}, "candidate": {...}}``).

    Each model's ``unscorable``: readings it cannot score that the other one scores. The daemon
    dead-letters a reading its model cannot score, so the gate refuses a candidate with any
    (:func:`~pipeline.retrain.gate.gate`); readings neither can score judge neither.
    """
    parts = _holdout(data, FeatureMap.of(current))
    now, new = _holdout_scores(current, parts), _holdout_scores(candidate, parts)
    judged = {p: ~np.isnan(now[p][0]) & ~np.isnan(new[p][0]) for p in parts}

    def unscorable(own: _Scored, other: _Scored) -> int:
        return sum(int((own[p][1] & ~np.isnan(other[p][0])).sum()) for p in parts)

    current_metrics: dict[str, Any] = _metrics(current, now, judged) | {"unscorable": unscorable(now, new)}
    candidate_metrics: dict[str, Any] = _metrics(candidate, new, judged) | {
        "unscorable": unscorable(new, now)
    }
    refused = {"current": _refused(now), "candidate": _refused(new)}
    left_out = sum(int((~judged[p] & (now[p][1] | new[p][1])).sum()) for p in parts)
    if left_out:
        log.warning(
            "%d held-out reading(s) left out of the gate: the current model cannot score %d (%s), the "
            "candidate %d (%s): values near float32's limit that the network overflows on",
            left_out,
            sum(refused["current"].values()),
            by_part(refused["current"]),
            sum(refused["candidate"].values()),
            by_part(refused["candidate"]),
        )
    return current_metrics, candidate_metrics, refused


@dataclass
class Judgement:
    """A candidate and the evidence for or against it."""

    candidate: DHAG
    data: TrainingData
    current_metrics: dict[str, Any]
    candidate_metrics: dict[str, Any]
    accepted: bool
    reasons: list[str]
    train_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    reference: list[Reading] = field(default_factory=list)
    #: Labelled readings left out: a plant model has no reference for their asset.
    unreferenced: int = 0
    #: Assets whose per-asset feature references the candidate dropped (retired ones).
    dropped_references: list[str] = field(default_factory=list)
    #: Training readings the current model could not score, left out of the candidate's training, by kind.
    training_unscored: dict[str, int] = field(default_factory=dict)
    #: Calibration readings the candidate (or the current model) could not score, left out of its threshold.
    calibration_unscored: int = 0
    #: Held-out readings each model could not score, by model and part (left out of the gate).
    holdout_unscored: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The readings the candidate's fit was given, by kind (``training_["trained"]``; empty if unknown).
    trained: dict[str, int] = field(default_factory=dict)


def judge(
    current: DHAG,
    labelled: Sequence[LabelledReading],
    normal: Sequence[Reading],
    settings: RetrainSettings,
    *,
    reference: Sequence[Reading] = (),
    train: Callable[[DHAG, TrainingData, RetrainSettings], DHAG] = train_candidate,
    retired: tuple[float, dict[str, float]] | None = None,
    episodes: Mapping[str, tuple[float, float]] | None = None,
) -> Judgement:
    """Split, train a candidate with ``train``, evaluate both models on the holdout (:func:`compare`: on
    the held-out readings both can score) and apply the gate.

    ``reference``: the current model's reference sample (empty when it has none), less its readings
    within ``episode_margin_s`` of a confirmed anomaly of their asset
    (:func:`~pipeline.retrain.samples.away_from_faults`: confirmed since they were sampled, as the
    store's recent sample leaves them out): of the whole episode of a confirmed alert whose window
    ``episodes`` gives (alert id: first and last reading's times, as the label store knows them,
    :meth:`~pipeline.normalsample.NormalSample.confirmed_episodes`), else of the confirmed reading;
    the judgement's ``reference`` is the candidate's (:func:`carry_forward` of it and the recent
    normal sample, readings a plant model reads at standstill left out before picking).
    ``retired`` (:meth:`~pipeline.normalsample.NormalSample.retired_before`): when given, the reference
    drops the assets whose newest reading, there or in the store, is older than its cutoff: a plant
    that renames assets would otherwise carry every id it ever had, a smaller share each year for the
    live ones. A plant model's candidate drops their per-asset references and ranges too (any asset
    with no reading since the cutoff): one that comes back is a new asset. They go once the candidate
    is judged, so both models are judged on the same features. A plant model leaves out of training
    and holdout the labelled readings of an asset it has no reference for, and will get none for from
    the samples (a retired one's labels stay for good): scaled by the fleet's median, a rejected
    alert's reading would train as another machine's normal operation (``unreferenced`` counts them).
    """
    live: set[str] | None = None
    if retired is not None:
        cutoff, newest = retired[0], dict(retired[1])
        for asset, ts, _ in reference:
            newest[asset] = max(ts, newest.get(asset, ts))
        reference = [r for r in reference if newest[r[0]] >= cutoff]
        live = {asset for asset, ts in newest.items() if ts >= cutoff}
    # Readings an operator confirmed as faults since they were sampled are no normal operation (the
    # store leaves them out of the recent sample), nor are the rest of a confirmed alert's episode.
    cleared = away_from_faults(reference, labelled, settings.episode_margin_s, episodes=episodes)
    if len(cleared) < len(reference):
        log.info(
            "%d reference reading(s) left out: within retrain.episode_margin_s of a confirmed anomaly's"
            " episode or reading",
            len(reference) - len(cleared),
        )
        reference = cleared
    unreferenced = 0
    if (known := FeatureMap.of(current).referenced([*normal, *reference])) is not None:
        kept = [r for r in labelled if r.asset_id in known]
        if unreferenced := len(labelled) - len(kept):
            assets = sorted({r.asset_id for r in labelled} - known)
            log.info(
                "%d labelled reading(s) left out: the model has no feature reference for their asset (%s)",
                unreferenced,
                ", ".join(assets[:10]),
            )
        labelled = kept
    data = split(
        labelled,
        normal,
        settings.holdout_fraction,
        block_s=settings.holdout_block_s,
        reference=reference,
        margin_s=settings.episode_margin_s,
    )
    started = time.perf_counter()
    candidate = train(current, data, settings)
    seconds = time.perf_counter() - started
    current_metrics, candidate_metrics, unscored = compare(current, candidate, data)
    accepted, reasons = gate(current_metrics, candidate_metrics, settings)
    gone: list[str] = []
    if live is not None and candidate is not current and (gone := keep_references(candidate, live)):
        log.info("retired assets leave the candidate's feature references: %s", ", ".join(gone[:10]))
    # Picked among the readings taken running: a standby machine's share would go mostly to readings
    # at standstill, which the next run drops (by the candidate's references, new assets' included).
    running = FeatureMap.of(candidate).running
    carried = carry_forward(running(reference), running(normal), settings.reference_sample_size)
    return Judgement(
        candidate,
        data,
        current_metrics,
        candidate_metrics,
        accepted,
        reasons,
        seconds,
        reference=carried,
        unreferenced=unreferenced,
        dropped_references=gone,
        training_unscored=dict((getattr(candidate, "training_", None) or {}).get("unscored") or {}),
        calibration_unscored=int(
            ((getattr(candidate, "training_", None) or {}).get("calibration") or {}).get("unscored", 0)
        ),
        holdout_unscored=unscored,
        trained=dict((getattr(candidate, "training_", None) or {}).get("trained") or {}),
    )
