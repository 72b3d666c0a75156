"""One retraining run against the model registry: train, judge, publish the candidate, promote or not.

The parent's reference sample (the normal operation it was trained on, read with
:func:`~pipeline.registry.load_reference`) joins the candidate's training, calibration and gate, and
is carried forward: the candidate is published with a bounded mix of it and the recent normal sample.
A parent without one is said at WARNING once per version in a process, at its first run.
The candidate is always published (not current) with its registry metadata (parent version, training
window, label counts, validation metrics, created time) and that reference sample, and a JSON report is
written beside it as ``<version>.report.json``: data sizes, label counts, both models' metrics, the
decision and why. Only a candidate the gate accepts becomes current (:func:`pipeline.registry.promote`),
which the daemons then hot-swap, and only while no promotion hold is in place (``models hold``,
:mod:`pipeline.promotionhold`): a run under one ends ``held``.

Once the decision is made (the candidate published, and promoted or not), what follows is
housekeeping: pruning the registry and writing the report. Should either fail, the run still returns
its decision, with the failure logged as an error and named in :attr:`RunResult.after_error` (and in
the report when it could be written): a run that promoted its candidate is not passed off as a
failed one while the daemons hot-swap to it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dhag import DHAG
from dhag.atomicwrite import write_atomic
from pipeline import registry as reg
from pipeline.config import RetrainSettings
from pipeline.errors import CurrentChangedError, PipelineError
from pipeline.labelstore import LabelledReading
from pipeline.logs import SaidOnce
from pipeline.promotionhold import PromotionHeldError
from pipeline.retention import NO_ROOM, REPORT_SUFFIX, make_room, prune
from pipeline.retrain.interrupted import RUN_KEY
from pipeline.retrain.judgement import judge
from pipeline.retrain.samples import Reading, TrainingData
from pipeline.retrain.training import RunStoppedError, train_candidate

__all__ = ["RegistryFullError", "RunResult", "report_path", "run_cycle"]

log = logging.getLogger(__name__)

_ACCEPTED = "no metric worse than the current model's beyond its tolerance"


class RegistryFullError(PipelineError):
    """A run could not publish or promote its candidate for want of room on the registry's volume; the
    message says what the run left and how to make room."""


@dataclass(frozen=True)
class RunResult:
    """What a run decided: ``outcome`` is ``promoted``, ``rejected`` or ``held`` (accepted by the gate, not
    promoted: a promotion hold, :mod:`pipeline.promotionhold`); the report's path and content.

    ``after_error``: what failed after the decision, when something did (pruning the registry, writing
    the report: then ``report`` does not exist), and ``after_failures`` those steps (``prune``,
    ``report``). The decision stands all the same: the candidate is published, and current when
    promoted. ``registry_versions``: the registry's versions by state once pruned
    (:data:`pipeline.retention.STATES`), counted from the prune's own listing; None when it failed.
    """

    outcome: str
    parent: str
    candidate: str
    report: Path
    content: dict[str, Any]
    after_error: str | None = None
    after_failures: tuple[str, ...] = ()
    registry_versions: dict[str, int] | None = None


def _no_room(exc: OSError, left: str, settings: RetrainSettings) -> RegistryFullError:
    """The failure of a run whose write ``exc`` found no room on the registry's volume, with what the run
    ``left`` and how to make room."""
    where = f"{exc.strerror or exc}: {exc.filename}"
    return RegistryFullError(
        f"the registry's volume is full ({where}): {left}. {make_room(settings.keep_versions)}"
    )


def report_path(registry: str | Path, version: str) -> Path:
    """Where the report of the run that produced ``version`` lives."""
    return Path(registry) / f"{version}{REPORT_SUFFIX}"


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` (numpy's too), as floats: the artifact's metadata takes no NaN
    or infinity."""
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, numbers.Real) and not isinstance(v, np.bool_) and math.isfinite(v)
    }


def finite(value: Any) -> Any:
    """``value`` as strict JSON takes it: every float that is not finite (NaN, infinities), at any depth
    of its dicts, lists, tuples and arrays, replaced by None (JSON has no such numbers, and
    ``json.dumps`` would write NaN), and numpy's scalars and arrays as Python numbers and lists
    (``np.float32`` is no ``float``, and ``json.dumps`` refuses ``np.int64`` outright).

    >>> finite({"recall": float("nan"), "runs": [1.5, float("inf")], "n": 3})
    {'recall': None, 'runs': [1.5, None], 'n': 3}
    >>> finite({"far": np.float32("nan"), "n": np.int64(3), "scores": np.array([0.5, np.inf])})
    {'far': None, 'n': 3, 'scores': [0.5, None]}
    """
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()  # Python numbers (a numpy bool as bool), an array as nested lists
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {finite(k) if isinstance(k, np.generic) else k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


# The versions (with their registry) this process said have no reference sample: a plant whose current
# model has none (an older one, or one trained some way that keeps none) reads it at the first run with
# that model, not at every run for as long as it stays current. Versions are never reused in a registry.
_UNSAMPLED_SAID = SaidOnce()


def _say_unsampled(registry: str | Path, version: str) -> None:
    """Say at WARNING that ``version`` has no reference sample, once per version and registry in this
    process."""
    if not _UNSAMPLED_SAID.first((str(Path(registry).absolute()), version)):
        return
    log.warning(
        "model %s has no reference sample: the candidate learns normal operation from the recent "
        "sample only (said once for this model)",
        version,
    )


def run_cycle(
    registry: str | Path,
    labelled: Sequence[LabelledReading],
    normal: Sequence[Reading],
    settings: RetrainSettings,
    *,
    trigger: str = "on_demand",
    train: Callable[[DHAG, TrainingData, RetrainSettings], DHAG] | None = None,
    stop: threading.Event | None = None,
    retired: tuple[float, dict[str, float]] | None = None,
    episodes: Mapping[str, tuple[float, float]] | None = None,
    run: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train a candidate against the registry's current model and promote it if the gate accepts it.

    Raises :class:`~pipeline.errors.ModelUnavailableError` without a current model,
    :class:`~pipeline.retrain.training.NotEnoughDataError` when the normal sample is too small, and
    :class:`~pipeline.retrain.training.RunStoppedError` when ``stop`` is set before the candidate is
    published; ``train`` (default: :func:`~pipeline.retrain.training.train_candidate` with ``stop``,
    which ends the training at the epoch during which it is set) fits the candidate; ``retired`` and
    ``episodes``: see :func:`~pipeline.retrain.judgement.judge`. ``run``: the run's stamp
    (:func:`~pipeline.retrain.interrupted.begin`), recorded in the candidate's metadata with the gate's
    decision, so that a restart after a kill finds what the run did.
    """
    started = time.time()
    parent, current = reg.load_current(registry)
    reference = reg.load_reference(registry, parent)
    if not reference:
        _say_unsampled(registry, parent)
    train = train or functools.partial(train_candidate, stop=stop)
    verdict = judge(
        current,
        labelled,
        normal,
        settings,
        reference=reference,
        train=train,
        retired=retired,
        episodes=episodes,
    )
    if stop is not None and stop.is_set():  # trained and judged as the stop came: publish nothing
        raise RunStoppedError("the retrainer is stopping: the candidate was judged, not published")
    counts = verdict.data.counts()
    label_counts = {
        "confirmed": counts["confirmed_train"] + counts["confirmed_holdout"],
        "rejected": counts["rejected_train"] + counts["rejected_holdout"],
        "normal_readings": counts["normal_train"] + counts["normal_holdout"] + counts["normal_calibration"],
    }
    if run is not None:
        stamp = dict(run) | {"accepted": bool(verdict.accepted), "reasons": list(verdict.reasons)}
        verdict.candidate.metadata_ = dict(getattr(verdict.candidate, "metadata_", None) or {}) | {
            RUN_KEY: stamp
        }
    try:
        version = reg.publish(
            registry,
            verdict.candidate,
            parent=parent,
            training_window=verdict.data.window(),
            label_counts=label_counts,
            validation=_flat(verdict.candidate_metrics)
            | {f"current_{k}": v for k, v in _flat(verdict.current_metrics).items()},
            make_current=False,
            reference=verdict.reference,
        )
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        raise _no_room(exc, f"nothing was published and {parent} stays current", settings) from exc
    outcome = "promoted" if verdict.accepted else "rejected"
    reasons, held = list(verdict.reasons), None
    if verdict.accepted:
        try:
            reg.promote(registry, version, only_over=parent, unless_held=True, by="retrainer")
        except PromotionHeldError as exc:  # judged and accepted; an operator stopped promotions
            outcome, held = "held", exc.hold
            reasons = [
                f"the gate accepted it ({_ACCEPTED}), but {exc.hold.line()}; `dhag-pipeline models promote "
                f"{version}` promotes it"
            ]
        except CurrentChangedError as exc:
            # An operator rolled back (or promoted) while this run trained: their choice stands.
            outcome, reasons = "rejected", [str(exc)]
        except OSError as exc:
            if exc.errno not in NO_ROOM:
                raise
            left = (
                f"its candidate {version}, accepted by the gate, is published, not current: {parent} stays "
                f"current (`dhag-pipeline models promote {version}` once there is room)"
            )
            raise _no_room(exc, left, settings) from exc
    decided = (
        f"candidate {version} promoted over {parent}; {version} is current"
        if outcome == "promoted"
        else f"candidate {version} {outcome} against {parent}"
    )
    after_error, failures, versions, unreadable = None, (), None, {}
    try:
        swept = prune(registry, keep=settings.keep_versions, also_keep={version})
        pruned, versions = swept.removed, swept.versions
        unreadable = {kept.version: kept.fault for kept in swept.kept_unreadable}
    except Exception as exc:  # noqa: BLE001 - the decision stands; the next run prunes again
        pruned, after_error = [], f"pruning the registry failed: {type(exc).__name__}: {exc}"
        failures = ("prune",)
        log.error("retrain run (%s): %s; then %s", trigger, decided, after_error)
    content = {
        "schema": 1,
        "candidate": version,
        "parent": parent,
        "trigger": trigger,
        "started": started,
        "finished": time.time(),
        "train_seconds": round(verdict.train_seconds, 2),
        "data": counts,
        # The readings the candidate's fit was given, by kind: those of ``data``'s training parts
        # less those left out (a sensor missing, unscorable, rejected alerts past rejected_max_share).
        "trained": verdict.trained,
        "reference_sample": {"parent": len(reference), "candidate": len(verdict.reference)},
        # A plant model: labels left out for want of their asset's reference, and the retired assets
        # whose references the candidate dropped.
        "labels_without_reference": verdict.unreferenced,
        "references_dropped": verdict.dropped_references,
        # Readings a model cannot score (its network overflows on them): training readings the current
        # model cannot score, left out of the candidate's training by kind, calibration readings left
        # out of the candidate's threshold, and held-out readings left out of the gate, by model and part.
        "training_unscored": verdict.training_unscored,
        "calibration_unscored": verdict.calibration_unscored,
        "holdout_unscored": verdict.holdout_unscored,
        "label_counts": label_counts,
        "training_window": verdict.data.window(),
        "metrics": {"current": verdict.current_metrics, "candidate": verdict.candidate_metrics},
        "tolerances": {
            "max_recall_drop": settings.max_recall_drop,
            "recall_significance": settings.recall_significance,
            "max_false_alarm_increase": settings.max_false_alarm_increase,
            "max_far_increase": settings.max_far_increase,
            "max_far_ratio": settings.max_far_ratio,
            "far_significance": settings.far_significance,
        },
        "decision": outcome,
        "pruned": pruned,
        # The versions the prune kept for they cannot be read, by version: their fault (newer_release,
        # bad_signature, damaged); `models prune --dry-run` says what to do with them.
        "kept_unreadable": unreadable,
        "reasons": reasons or [_ACCEPTED],
        # The promotion hold that kept an accepted candidate from being promoted (models hold), if any.
        "promotion_hold": None if held is None else held.as_dict(),
    }
    if after_error is not None:
        content["after_error"] = after_error
    path = report_path(registry, version)
    content = finite(content)
    try:
        write_atomic(path, (json.dumps(content, indent=2, allow_nan=False) + "\n").encode())
    except Exception as exc:  # noqa: BLE001 - the decision stands without its report
        failed = f"writing its report {path} failed: {type(exc).__name__}: {exc}"
        after_error = failed if after_error is None else f"{after_error}; {failed}"
        failures += ("report",)
        log.error("retrain run (%s): %s; then %s", trigger, decided, failed)
    log.info(
        "retrain run (%s): candidate %s %s against %s; %s",
        trigger,
        version,
        outcome,
        parent,
        "; ".join(content["reasons"]),
    )
    return RunResult(outcome, parent, version, path, content, after_error, failures, versions)
