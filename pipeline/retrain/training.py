"""Train a candidate model from labels and recent normal operation, and judge it against the current one.

Plain functions on plain data, so the retrainer service, the tests and ``bench feedback`` share them:

* :func:`~pipeline.retrain.samples.split` cuts the data into training, holdout and calibration parts;
* :func:`train_candidate` fits DHAG with the current model's settings: confirmed anomalies with y = 1
  (the semi-supervised term), the recent normal sample, the reference sample (the normal operation the
  parent was trained on, carried forward from version to version) plus ``rejected_weight`` copies of
  every rejected alert's reading with y = 0; a plant model keeps its per-asset references (new assets
  get one). The threshold is calibrated on unseen blocks of both normal samples, at the target
  false-alarm rate;
* :func:`evaluate` scores one model on the holdout at its own calibrated threshold;
* a reading a model cannot score (:func:`scores_of`: its network overflows on values near float32's
  limit, which the daemon dead-letters) is left out of the candidate's training (the current model's
  scores), of the threshold's calibration and of the gate, counted in the run report, not the end of
  the run;
* :func:`~pipeline.retrain.gate.gate` accepts the candidate unless it is worse than the current model
  beyond the tolerances;
* :func:`judge` does all of it for one current model.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dhag import DHAG, InputError, TrainingError
from pipeline.config import RetrainSettings
from pipeline.features import INPUT_SENSORS, METADATA_KEY, PlantFeatures, keep_references
from pipeline.labelstore import LabelledReading
from pipeline.retrain.faultprobes import fault_probes
from pipeline.retrain.gate import gate
from pipeline.retrain.samples import Reading, TrainingData, carry_forward, rejected_copies, split
from pipeline.retrain.unscorable import by_part, far_kinds, far_rows, near_limit, scores_of

__all__ = [
    "FeatureMap",
    "Judgement",
    "NotEnoughDataError",
    "RunStoppedError",
    "compare",
    "evaluate",
    "judge",
    "matching_epochs",
    "parent_recipe",
    "scores_of",
    "train_candidate",
]

log = logging.getLogger(__name__)

# Registry fields that publish() writes afresh for every version: never inherited from the parent.
_REGISTRY_FIELDS = ("version", "parent", "created", "training_window", "label_counts", "validation")


class NotEnoughDataError(ValueError):
    """Too few normal readings to train a candidate."""


class RunStoppedError(Exception):
    """The retrainer is stopping: the candidate's training ended at an epoch, and nothing is published."""


class FeatureMap:
    """Readings (asset, values) -> a model's input matrix: derived plant features or raw sensors.

    Readings that lack a sensor the model needs are left out (:meth:`matrix` returns which were kept).
    """

    def __init__(self, features: list[str], derived: PlantFeatures | None) -> None:
        self.features = features
        self.derived = derived
        self.inputs = list(derived.inputs) if derived is not None else list(features)

    @classmethod
    def of(cls, model: DHAG) -> FeatureMap:
        """The map a fitted model reads with."""
        return cls(list(model.feature_names_in_), PlantFeatures.from_model(model))

    def matrix(self, rows: Sequence[tuple[str, dict[str, float]]]) -> tuple[np.ndarray, np.ndarray]:
        """``(X, kept)``: the model input of the readings that carry every needed sensor, and a mask."""
        # An alert carries a sensor whose number JSON could not hold as null: missing, like an absent one.
        kept = np.array(
            [all(values.get(name) is not None for name in self.inputs) for _, values in rows], dtype=bool
        )
        raw = np.array(
            [
                [float(values[name]) for name in self.inputs]
                for (_, values), ok in zip(rows, kept, strict=True)
                if ok
            ],
            dtype=float,
        ).reshape(int(kept.sum()), len(self.inputs))
        finite = np.isfinite(raw).all(axis=1)
        if not finite.all():
            kept[np.flatnonzero(kept)[~finite]] = False
            raw = raw[finite]
        if self.derived is None:
            return raw, kept
        assets = [asset for (asset, _), ok in zip(rows, kept, strict=True) if ok]
        return self.derived.transform(raw, assets), kept

    def referenced(self, normal: Sequence[Reading]) -> set[str] | None:
        """The assets a plant model's :meth:`extended` map holds a reference for: those it knows, and
        those of ``normal`` with every input sensor; None for a raw-sensor map (no references)."""
        if self.derived is None:
            return None
        return set(self.derived.references) | {a for a, _, v in normal if all(s in v for s in INPUT_SENSORS)}

    def extended(self, normal: Sequence[Reading]) -> FeatureMap:
        """The same map with per-asset references for assets of ``normal`` that a plant model has none
        for (assets it knows keep theirs: a reference is a long-run median, which a recent sample of
        one part of the load cycle would bias); a raw-sensor map is returned unchanged."""
        if self.derived is None:
            return self
        usable = [
            (a, v)
            for a, _, v in normal
            if a not in self.derived.references and all(s in v for s in INPUT_SENSORS)
        ]
        if not usable:
            return self
        frame = pd.DataFrame([v for _, v in usable], columns=list(INPUT_SENSORS))
        frame["asset_id"] = [a for a, _ in usable]
        references = self.derived.references | PlantFeatures.fit(frame).references
        return FeatureMap(self.features, PlantFeatures(references, self.derived.input_means))


def parent_recipe(current: DHAG) -> dict[str, Any]:
    """The training-side rules (``ce_target``, ``shift_weight``) the parent's kept model was trained
    with, when it was not the paper's plain objective: a candidate repeats them. Left to decide again,
    a candidate's paper-objective fit on other data can end just short of the collapse test and be
    kept without the rules: on the plant, such a candidate found 0.28 of the fault episodes its parent
    found 0.85 of (``bench feedback --quiet-hours 24 --seed 2``).

    >>> class Parent:
    ...     training_ = {"attempts": [{"ce_target": None, "shift_weight": 0.0},
    ...                               {"ce_target": 0.9, "shift_weight": 1.0}]}
    >>> parent_recipe(Parent())
    {'ce_target': 0.9, 'shift_weight': 1.0}
    """
    attempts = (getattr(current, "training_", None) or {}).get("attempts") or []
    if not attempts:
        return {}
    kept = attempts[-1]
    if kept.get("ce_target") is None and not kept.get("shift_weight"):
        return {}
    return {"ce_target": kept["ce_target"], "shift_weight": float(kept["shift_weight"])}


def matching_epochs(current: DHAG, n_rows: int, settings: RetrainSettings) -> int:
    """Epochs for a candidate on ``n_rows`` rows: ``settings.max_epochs``, or more when that gives
    fewer updates than the parent's training had (its ``training_["steps"]``). The retrainer trains
    on fewer rows than the history the parent came from, and a candidate with a third of the parent's
    updates scored normal operation so loosely that it flagged ten times as many held-out normal
    readings (``bench feedback --quiet-hours 24 --seed 1``). The time budget still bounds it.

    >>> class Parent:
    ...     training_ = {"steps": 3630}
    ...     batch_size, validation_fraction = 512, 0.1
    >>> matching_epochs(Parent(), 16_000, RetrainSettings(max_epochs=30))
    126
    >>> matching_epochs(Parent(), 100_000, RetrainSettings(max_epochs=30))
    30
    """
    steps = int((getattr(current, "training_", None) or {}).get("steps") or 0)
    n_fit = max(1, int(n_rows * (1.0 - current.validation_fraction)))
    per_epoch = math.ceil(n_fit / current.batch_size)
    return max(settings.max_epochs, math.ceil(steps / per_epoch))


def _stop_at(stop: threading.Event, record: dict[str, float], score: Any) -> None:
    """An epoch hook of fit: ends the training once ``stop`` is set."""
    if stop.is_set():
        epoch = int(record.get("epoch", 0))
        raise RunStoppedError(f"the retrainer is stopping: training ended after epoch {epoch}")


def train_candidate(
    current: DHAG, data: TrainingData, settings: RetrainSettings, *, stop: threading.Event | None = None
) -> DHAG:
    """Fit a new DHAG with ``current``'s settings on the training part of ``data``.

    Raises :class:`NotEnoughDataError` when fewer than ``settings.min_normal_rows`` normal rows remain,
    :class:`RunStoppedError` at the end of the epoch during which ``stop`` is set, and
    :class:`~dhag.TrainingError` when the training diverges or the threshold, as fitted or as
    recalibrated on the calibration blocks, is one no model should be held to (1.0, 0.0: it would flag
    nothing). A training that fails while training rows hold values near float32's limit (readings the
    current model scores, but the candidate's standardisation or network overflows on) is tried once
    more without them, logged, and counted in ``training_["unscored"]["near_limit"]``; if that fails
    too, the error names them as the likely cause.
    Training readings (labelled and sampled) the current model cannot score, which the daemon
    dead-letters, are left out of the training, logged, and counted by kind (``confirmed``,
    ``rejected``, ``normal``, ``reference``) in the candidate's ``training_["unscored"]``; calibration
    readings the candidate cannot score are left out of its threshold, logged, and counted in its
    ``training_["calibration"]["unscored"]``.
    """
    fmap = FeatureMap.of(current).extended(data.normal_train + data.reference_train)
    # Readings the parent cannot score (the daemon dead-letters them) diverge the candidate's training:
    # left out, as from its threshold and the gate, and counted by kind.
    scorable = functools.partial(_scorable, current, fmap)
    unscored: dict[str, int] = {}
    reference_rows = scorable("reference", [(a, v) for a, _, v in data.reference_train], unscored)
    recent_rows = scorable("normal", [(a, v) for a, _, v in data.normal_train], unscored)
    rejected = scorable("rejected", [r for r in data.labelled_train if r.y == 0], unscored)
    confirmed = scorable("confirmed", [r for r in data.labelled_train if r.y == 1], unscored)
    if unscored:
        log.warning(
            "%d training reading(s) left out of the candidate's training: the current model cannot score "
            "them (%s), values near float32's limit that its network overflows on (the daemon "
            "dead-letters them)",
            sum(unscored.values()),
            by_part(unscored),
        )
    normal_rows = reference_rows + recent_rows
    rejected, copies = rejected_copies(rejected, len(normal_rows), settings)
    normal_rows += [(r.asset_id, r.values) for r in rejected] * copies
    X_normal, kept_normal = fmap.matrix(normal_rows)
    X_known, kept_known = fmap.matrix([(r.asset_id, r.values) for r in confirmed])
    if left_out := [r.alert_id or r.key for r, ok in zip(confirmed, kept_known, strict=True) if not ok]:
        log.warning(  # a reading imputed by the daemon, or a label by reading that copied part of one
            "%d of %d confirmed anomalies left out of training: their readings lack a sensor the model "
            "reads (%s)",
            len(left_out),
            len(confirmed),
            ", ".join(left_out[:5]),
        )
    if len(X_normal) < settings.min_normal_rows:
        raise NotEnoughDataError(
            f"{len(X_normal)} normal training rows, fewer than retrain.min_normal_rows "
            f"({settings.min_normal_rows})"
        )
    X = np.vstack([X_normal, X_known])
    y = np.concatenate([np.zeros(len(X_normal), dtype=int), np.ones(len(X_known), dtype=int)])
    params = current.get_params() | {
        "device": settings.device,
        "max_epochs": matching_epochs(current, len(X_normal), settings),
        "time_budget": settings.time_budget_s,
        "random_state": settings.seed,
        "progress": False,
        "feature_names": list(fmap.features),
        **parent_recipe(current),
        # The rows are not in time order here (reference, recent, rejected alerts): a random slice
        # for fit's own use; the threshold comes from the unseen blocks below.
        "validation_split": "random",
    }
    on_epoch = None if stop is None else functools.partial(_stop_at, stop)
    try:
        model = DHAG(**params).fit(X, y, on_epoch=on_epoch)
    except (TrainingError, InputError) as exc:
        far = far_rows(X, y)
        if not far.any():
            raise
        # Such a reading stays in the labels and the normal sample: failing here would fail every run.
        cause = near_limit(X, y)
        log.warning(
            "candidate's training failed (%s); trained again without %d training reading(s) (%s) "
            "near float32's limit: %s",
            exc,
            int(far.sum()),
            by_part(far_kinds(far, y)),
            cause,
        )
        try:
            model = DHAG(**params).fit(X[~far], y[~far], on_epoch=on_epoch)
        except (TrainingError, InputError) as again:
            raise TrainingError(f"{exc} ({cause}); trained again without them: {again}") from again
        unscored["near_limit"] = int(far.sum())
        far_normal = far[: len(X_normal)]
        kept_normal[np.flatnonzero(kept_normal)[far_normal]] = False
        X_normal, X, y = X_normal[~far_normal], X[~far], y[~far]
    # DHAG calibrates on random held-out training rows, which neighbours in time make look familiar;
    # whole unseen blocks of normal operation (recent and carried) give a threshold that holds on new
    # hours of the plant, at the target rate (and at least the model's min_threshold). Not at the
    # parent's own rate on these rows when lower: the carried blocks are rows the parent trained on, so
    # it flags few of them, and holding each candidate to at most its parent's rate lets the threshold
    # drift stricter over generations.
    calibration = [(a, v) for a, _, v in data.normal_calibration + data.reference_calibration]
    X_cal, _ = fmap.matrix(calibration)
    if len(X_cal) >= settings.min_normal_rows // 10:
        _recalibrate(model, X_cal, settings)
    metadata = {
        k: v for k, v in (getattr(current, "metadata_", None) or {}).items() if k not in _REGISTRY_FIELDS
    }
    if fmap.derived is not None:
        # Each asset's training range, from the normal rows this candidate trained on.
        assets = [a for (a, _), ok in zip(normal_rows, kept_normal, strict=True) if ok]
        metadata[METADATA_KEY] = fmap.derived.with_ranges(X_normal, assets).to_metadata()
    model.metadata_ = metadata | {"rows": int(len(X))}
    model.training_["unscored"] = unscored
    return model


def _scorable(
    current: DHAG, fmap: FeatureMap, kind: str, rows: list[Any], unscored: dict[str, int]
) -> list[Any]:
    """``rows`` (readings, or labelled readings) but those ``current`` cannot score (:func:`scores_of`),
    whose number is added to ``unscored[kind]``; rows ``fmap`` cannot read stay, for the caller."""
    pairs = [(r.asset_id, r.values) if isinstance(r, LabelledReading) else r for r in rows]
    X, kept = fmap.matrix(pairs)
    refused = np.zeros(len(rows), dtype=bool)
    refused[kept] = np.isnan(scores_of(current, X))
    if n := int(refused.sum()):
        unscored[kind] = n
    return [r for r, out in zip(rows, refused, strict=True) if not out]


def _recalibrate(model: DHAG, X_cal: np.ndarray, settings: RetrainSettings) -> None:
    """Set the candidate's threshold from its scores of the calibration rows it can score (at least
    ``min_normal_rows // 10`` of them, else fit's own stays), and record how in its
    ``training_["calibration"]``."""
    scores = scores_of(model, X_cal)
    scored = np.isfinite(scores)
    unscored = int((~scored).sum())
    if unscored:
        log.warning(
            "%d of %d calibration readings left out of the candidate's threshold: it cannot score them "
            "(values near float32's limit that its network overflows on)",
            unscored,
            len(X_cal),
        )
    record = dict(model.training_.get("calibration") or {})
    n = int(scored.sum())
    if n >= settings.min_normal_rows // 10:
        try:
            model.threshold_ = model.threshold_for(scores[scored], X_cal[scored])
        except TrainingError as exc:
            raise TrainingError(
                f"The candidate's threshold recalibrated on {n} unseen normal readings: {exc}"
            ) from exc
        quantiles = {q: float(np.quantile(scores[scored], float(q))) for q in ("0.5", "0.9", "0.99")}
        record = {"rows": n, "source": "unseen blocks", "split": "blocks", "score_quantiles": quantiles}
    model.training_["calibration"] = record | {"unscored": unscored}


_Part = list[tuple[str, dict[str, float]]]
# Per part of the holdout: a model's score of each reading (NaN where it has none), which it refused.
_Scored = dict[str, tuple[np.ndarray, np.ndarray]]


def _holdout(data: TrainingData, fmap: FeatureMap) -> dict[str, _Part]:
    """The held-out readings each gate metric is computed on, by part (the fault probes are made from
    the reference holdout, or the recent one without a reference, and are the same for every model)."""
    normal_rows = [(a, v) for a, _, v in data.reference_holdout or data.normal_holdout]
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
    #: Calibration readings the candidate could not score, left out of its threshold.
    calibration_unscored: int = 0
    #: Held-out readings each model could not score, by model and part (left out of the gate).
    holdout_unscored: dict[str, dict[str, int]] = field(default_factory=dict)


def judge(
    current: DHAG,
    labelled: Sequence[LabelledReading],
    normal: Sequence[Reading],
    settings: RetrainSettings,
    *,
    reference: Sequence[Reading] = (),
    train: Callable[[DHAG, TrainingData, RetrainSettings], DHAG] = train_candidate,
    retired: tuple[float, dict[str, float]] | None = None,
) -> Judgement:
    """Split, train a candidate with ``train``, evaluate both models on the holdout (:func:`compare`: on
    the held-out readings both can score) and apply the gate.

    ``reference``: the current model's reference sample (empty when it has none); the judgement's
    ``reference`` is the candidate's (:func:`carry_forward` of it and the recent normal sample).
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
    carried = carry_forward(reference, normal, settings.reference_sample_size)
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
    )
