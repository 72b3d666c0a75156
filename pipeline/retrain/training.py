"""Train a candidate model from labels and recent normal operation, with the current model's settings.

:func:`train_candidate` fits DHAG with the current model's settings: confirmed anomalies with y = 1 (the
semi-supervised term), the recent normal sample, the reference sample (the normal operation the parent
was trained on, carried forward from version to version) plus ``rejected_weight`` copies of every
rejected alert's reading with y = 0; a plant model keeps its per-asset references (new assets get one).
The threshold is calibrated on unseen blocks of both normal samples, at the target false-alarm rate
(a parent given ``contamination`` instead: flagging that share of them, ``DHAG.threshold_for``);
when they hold fewer than ``min_normal_rows // 10`` readings, with distinct normal training readings
held out of the fit (fit's own slice holds the rejected alerts' copies). A reading a model cannot score
(:func:`~pipeline.retrain.unscorable.scores_of`: its network overflows on values near float32's limit,
which the daemon dead-letters) is left out of the candidate's training (the current model's scores) and
of the threshold's calibration (the current model's and the candidate's), counted in the run report,
not the end of the run; calibration readings left out do not count towards ``min_normal_rows // 10``.
:mod:`pipeline.retrain.judgement` judges the candidate against the current model.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from typing import Any

import numpy as np

from dhag import DHAG, InputError, TrainingError
from dhag.health import expected_false_alarms
from dhag.legacy import dropped_note, refit_settings
from dhag.params import target_far
from pipeline.config import RetrainSettings
from pipeline.features import METADATA_KEY
from pipeline.labelstore import LabelledReading
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.fitnotes import held_calibration_notes
from pipeline.retrain.samples import TrainingData, rejected_copies
from pipeline.retrain.sensorset import refuse_changed_sensors
from pipeline.retrain.unscorable import by_part, far_kinds, far_rows, near_limit, scores_of

__all__ = [
    "NotEnoughDataError",
    "RunStoppedError",
    "matching_epochs",
    "parent_recipe",
    "train_candidate",
]

log = logging.getLogger(__name__)

# Registry fields that publish() writes afresh for every version: never inherited from the parent.
_REGISTRY_FIELDS = ("version", "parent", "created", "training_window", "label_counts", "validation")


class NotEnoughDataError(ValueError):
    """Too few normal readings to train a candidate."""


class RunStoppedError(Exception):
    """The retrainer is stopping: the candidate's training ended at an epoch, and nothing is published."""


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

    Raises :class:`~pipeline.retrain.sensorset.SensorsChangedError` when most recent normal readings
    lack a sensor ``current`` reads (one renamed or removed in the plant),
    :class:`NotEnoughDataError` when fewer than ``settings.min_normal_rows`` normal rows remain,
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
    ``training_["calibration"]["unscored"]``. ``training_["trained"]`` counts the readings fit was
    given, by kind (``confirmed``, ``rejected`` with ``rejected_copies`` copies each, ``normal``,
    ``reference``).
    """
    parent_map = FeatureMap.of(current)
    refuse_changed_sensors(
        parent_map.inputs, data.normal_train + data.normal_calibration + data.normal_holdout
    )
    fmap = parent_map.extended(data.normal_train + data.reference_train)
    # Readings the parent cannot score (the daemon dead-letters them) diverge the candidate's training:
    # left out, as from its threshold and the gate, and counted by kind.
    scorable = functools.partial(_scorable, current, fmap)
    unscored: dict[str, int] = {}
    # A plant model's readings at standstill train nothing (FeatureMap leaves them out): left out first,
    # they count neither among the normal rows that bound the rejected alerts' copies nor as spare ones.
    running = fmap.running
    reference_rows = scorable("reference", [(a, v) for a, _, v in running(data.reference_train)], unscored)
    recent_rows = scorable("normal", [(a, v) for a, _, v in running(data.normal_train)], unscored)
    rejected = scorable("rejected", _running_labels(fmap, data.labelled_train, 0), unscored)
    confirmed = scorable("confirmed", _running_labels(fmap, data.labelled_train, 1), unscored)
    if unscored:
        log.warning(
            "%d training reading(s) left out of the candidate's training: the current model cannot score "
            "them (%s), values near float32's limit that its network overflows on (the daemon "
            "dead-letters them)",
            sum(unscored.values()),
            by_part(unscored),
        )
    # As in training, calibration readings the parent cannot score (the daemon dead-letters them) are
    # left out before they count towards enough: the candidate may score them, saturated, at 1.0.
    cal_unscored: dict[str, int] = {}
    calibration = [(a, v) for a, _, v in running(data.normal_calibration + data.reference_calibration)]
    X_cal, _ = fmap.matrix(scorable("calibration", calibration, cal_unscored))
    spare: list[tuple[str, dict[str, float]]] = []
    if len(X_cal) < settings.min_normal_rows // 10:
        # Too few unseen blocks: fit's own random slice would set the threshold, and it holds rejected
        # alerts' copies (one reading rejected_weight times, trained on as well), whose scores
        # then make the threshold. Distinct normal training readings are held out of the fit instead.
        reference_rows, recent_rows, spare = _spare_rows(
            reference_rows, recent_rows, len(X_cal), current, settings
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
    # A model saved before fit refused target_far beside contamination is refit as it was trained.
    current_params, dropped = refit_settings(current.get_params())
    if dropped:
        log.warning(
            "the current model's settings: %s; the candidate is trained without it",
            dropped_note(current.get_params()),
        )
    params = current_params | {
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
    # Fit's own threshold is replaced below: its notes on it are held (pipeline.retrain.fitnotes).
    with held_calibration_notes() as fit_notes:
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
    if spare:
        X_cal = np.vstack([X_cal, fmap.matrix(spare)[0]])
    if len(X_cal) >= settings.min_normal_rows // 10:
        _recalibrate(model, X_cal, settings, spare=bool(spare), left_out=cal_unscored.get("calibration", 0))
    else:  # fit's threshold stands: what dhag said of it holds
        fit_notes.release()
    metadata = {
        k: v for k, v in (getattr(current, "metadata_", None) or {}).items() if k not in _REGISTRY_FIELDS
    }
    if fmap.derived is not None:
        # Each asset's training range, from the normal rows this candidate trained on.
        assets = [a for (a, _), ok in zip(normal_rows, kept_normal, strict=True) if ok]
        metadata[METADATA_KEY] = fmap.derived.with_ranges(X_normal, assets).to_metadata()
    model.metadata_ = metadata | {"rows": int(len(X))}
    model.training_["unscored"] = unscored
    if dropped:  # what a retrain from the current model's settings left out (dhag info says so)
        model.training_["dropped_settings"] = dropped
    # What fit was given, by kind: readings left out (a sensor missing, unscorable, near float32's
    # limit, past rejected_max_share) are not counted.
    n_reference, n_base = len(reference_rows), len(reference_rows) + len(recent_rows)
    model.training_["trained"] = {
        "confirmed": int((y == 1).sum()),
        "rejected": int(kept_normal[n_base : n_base + len(rejected)].sum()) if copies else 0,
        "rejected_copies": int(copies),
        "normal": int(kept_normal[n_reference:n_base].sum()),
        "reference": int(kept_normal[:n_reference].sum()),
    }
    return model


def _running_labels(fmap: FeatureMap, labelled: list[LabelledReading], y: int) -> list[LabelledReading]:
    """The readings of ``labelled`` with label ``y`` but those a plant model reads at standstill, which
    train nothing (the daemon judges them normal whatever the model scores), said in the log: before
    the daemon judged stops so, every planned stop opened an alert, and its rejection would count among
    the rejected alerts whose copies share ``rejected_max_share``."""
    rows = [r for r in labelled if r.y == y]
    _, kept, still = fmap.read([(r.asset_id, r.values) for r in rows])
    if not still.any():
        return rows
    stopped = np.zeros(len(rows), dtype=bool)
    stopped[np.flatnonzero(kept)[still]] = True
    log.info(
        "%d %s label(s) left out of training: their readings were taken at standstill, which the daemon "
        "judges normal whatever a model scores (%s)",
        int(stopped.sum()),
        "confirmed" if y else "rejected",
        ", ".join([r.alert_id or r.key for r, out in zip(rows, stopped, strict=True) if out][:5]),
    )
    return [r for r, out in zip(rows, stopped, strict=True) if not out]


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


def _spare_rows(
    reference: list[Any], recent: list[Any], have: int, current: DHAG, settings: RetrainSettings
) -> tuple[list[Any], list[Any], list[Any]]:
    """``(reference, recent, spare)``: a seeded random ``validation_fraction`` of the distinct normal
    training readings (at least enough to make ``have`` calibration rows ``min_normal_rows // 10``,
    at most half of them) taken out of ``reference`` and ``recent`` as ``spare``, to calibrate the
    candidate's threshold on."""
    n = len(reference) + len(recent)
    need = settings.min_normal_rows // 10 - have
    take = min(n // 2, max(need, int(round(current.validation_fraction * n))))
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(settings.seed).choice(n, size=take, replace=False)] = True
    rows = reference + recent
    spare = [r for r, out in zip(rows, held, strict=True) if out]
    kept = [r for r, out in zip(rows, held, strict=True) if not out]
    n_reference = len(reference) - int(held[: len(reference)].sum())
    log.info(
        "%d calibration reading(s), fewer than retrain.min_normal_rows / 10: %d normal training"
        " reading(s) held out of the candidate's fit calibrate its threshold with them",
        have,
        take,
    )
    return kept[:n_reference], kept[n_reference:], spare


def _recalibrate(
    model: DHAG, X_cal: np.ndarray, settings: RetrainSettings, *, spare: bool = False, left_out: int = 0
) -> None:
    """Set the candidate's threshold from its scores of the calibration rows it can score, and record
    how in its ``training_["calibration"]`` (``unscored``: those it cannot score, and ``left_out`` that
    the parent could not). Raises :class:`~dhag.TrainingError` when fewer than ``min_normal_rows // 10``
    are left: fit's own threshold, from a random slice that holds the rejected alerts' copies, is none
    to keep."""
    scores = scores_of(model, X_cal)
    scored = np.isfinite(scores)
    unscored = int((~scored).sum())
    if unscored or left_out:
        log.warning(
            "%d of %d calibration readings left out of the candidate's threshold: %s cannot score them "
            "(values near float32's limit that a network overflows on)",
            unscored + left_out,
            len(X_cal) + left_out,
            "it" if not left_out else "the current model" if not unscored else "it or the current model",
        )
    n, need = int(scored.sum()), settings.min_normal_rows // 10
    if n < need:
        raise TrainingError(
            f"The candidate scores {n} of {len(X_cal)} calibration readings, fewer than "
            f"retrain.min_normal_rows / 10 ({need}) to set its threshold on: the others hold values "
            "near float32's limit that its network overflows on"
        )
    try:
        model.threshold_ = model.threshold_for(scores[scored], X_cal[scored])
    except TrainingError as exc:
        raise TrainingError(
            f"The candidate's threshold recalibrated on {n} unseen normal readings: {exc}"
        ) from exc
    far = target_far(model)
    if model.contamination is None and n * far < 10:  # as dhag says of fit's: this is the one kept
        log.warning(
            "the candidate's threshold was calibrated on %d unseen normal readings: at target_far %g that "
            "is %s, so the false-alarm rate it gives on new data may be several times the target; it "
            "is placed better as the normal sample grows (retrain.normal_sample_every "
            "samples more of the readings)",
            n,
            far,
            expected_false_alarms(n, far),
        )
    quantiles = {q: float(np.quantile(scores[scored], float(q))) for q in ("0.5", "0.9", "0.99")}
    record = {"rows": n, "source": "unseen blocks", "split": "blocks", "score_quantiles": quantiles}
    if spare:
        record |= {"source": "unseen blocks and training rows", "split": "blocks and random"}
    model.training_["calibration"] = record | {"unscored": unscored + left_out}
