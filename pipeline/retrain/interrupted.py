"""A retraining run the retrainer did not live to record (SIGKILL, out of memory, a node lost): what it
did in the registry, found again at the next start.

A run's start writes a stamp in the label store (its id, the newest label it read, its trigger, when
it started), committed before it trains; the run's end, once recorded, clears it in the same
transaction as its record. The stamp also rides in the candidate's metadata (``retrain_run``, with the
gate's decision and reasons), so a stamp left in the store names the run that died, and the registry
says how far it got (:func:`recover`): nothing published, a candidate published (refused by the gate,
accepted and held by a promotion hold placed before its publication or that records refusing it, or
accepted and killed before its promotion), or one promoted (current, or in the history since); and
its report, when the kill came before it was written, is written from the version's metadata.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dhag
from dhag import ArtifactError
from dhag.atomicwrite import write_atomic
from pipeline import promotionhold
from pipeline.errors import ModelUnavailableError
from pipeline.labelstore import LabelStore
from pipeline.registrypointer import SUFFIX, VERSION, history, read_pointer
from pipeline.retention import REPORT_SUFFIX

__all__ = ["RUN_KEY", "Interrupted", "begin", "end", "recover"]

log = logging.getLogger(__name__)

RUN_KEY = "retrain_run"  # the stamp's key in a candidate's registry metadata
_UNDER_WAY = "run_under_way"  # the stamp's key in the label store's state
# A candidate is published after its run started: older artifacts are not read (an hour early allows
# for a shared volume whose clock differs from this host's).
_SLACK_S = 3600.0
_ACCEPTED = "no metric worse than the current model's beyond its tolerance"  # as the gate says it
_NOT_WRITTEN = (
    "the retrainer stopped (killed: SIGKILL, out of memory) before writing this report; written at its "
    "next start from the version's metadata (no data sizes, reference sample or pruning)"
)


@dataclass(frozen=True)
class Interrupted:
    """What the next start found of a run that died unrecorded: ``outcome`` is ``promoted``,
    ``rejected``, ``held`` (all three: the run's decision stands, its labels used), ``not_promoted``
    (accepted by the gate, killed before its promotion) or None (nothing published); ``finished``: when
    its decision was made (its report's ``finished``, else the candidate's publication), None when it
    made none."""

    label_id: int
    trigger: str
    version: str | None = None
    outcome: str | None = None
    finished: float | None = None


def begin(store: LabelStore, *, label_id: int, trigger: str) -> dict[str, Any]:
    """Stamp a run that starts (committed by the caller before it trains); returns the stamp."""
    stamp = {"id": uuid.uuid4().hex, "label_id": label_id, "trigger": trigger, "started": time.time()}
    store.set_state(_UNDER_WAY, json.dumps(stamp))
    return stamp


def end(store: LabelStore) -> None:
    """Clear the stamp of the run whose end is being recorded (in the same transaction)."""
    store.set_state(_UNDER_WAY, "")


def recover(store: LabelStore, registry: str | Path) -> Interrupted | None:
    """The run the store's stamp names, as the registry shows it (None: every run was recorded); its
    missing report written. The stamp is cleared: the caller records the run and commits. A registry
    that cannot be read counts as nothing published (its labels count as new), with a warning."""
    raw = store.get_state(_UNDER_WAY)
    if not raw:
        return None
    end(store)
    try:
        stamp = json.loads(raw)
        found = Interrupted(int(stamp["label_id"]), str(stamp["trigger"]))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("the stamp of an unrecorded retraining run cannot be read (%s): left aside", exc)
        return None
    try:
        return _found(Path(registry), stamp, found)
    # A stamp or report mended by hand, or another release's: left aside, not raised at every start.
    except (OSError, ModelUnavailableError, KeyError, ValueError, TypeError) as exc:
        log.warning("cannot tell what the unrecorded retraining run left in the registry: %s", exc)
        return found


def _found(root: Path, stamp: dict[str, Any], found: Interrupted) -> Interrupted:
    published = _published(root, stamp)
    if published is None:
        return found
    version, path, meta = published
    report = root / f"{version}{REPORT_SUFFIX}"
    written = _report(report)
    if written is not None:
        finished = float(written.get("finished") or path.stat().st_mtime)
        return Interrupted(found.label_id, found.trigger, version, str(written["decision"]), finished)
    run = meta.get(RUN_KEY) or {}
    finished = path.stat().st_mtime
    hold = None
    if version == read_pointer(root) or version in history(root):
        outcome = "promoted"  # its promotion follows its publication within seconds
    elif not run.get("accepted"):
        outcome = "rejected"
    elif (hold := _held_before(root, finished, version)) is not None:
        outcome = "held"  # its promotion, checked under the registry's lock, found the hold
    else:
        outcome = "not_promoted"
    _write_report(report, version, meta, stamp, outcome, finished, hold)
    return Interrupted(found.label_id, found.trigger, version, outcome, finished)


def _held_before(root: Path, published: float, version: str) -> promotionhold.Hold | None:
    """The promotion hold that refused the promotion of ``version``: the one that records it refused
    (placed between the publication and the promotion's check), or in place since before its
    publication at ``published`` (its file's modification time: when ``models hold`` placed it, or
    recorded a refusal); None when there is none, or it was placed since and refused nothing (the run
    was killed before its promotion), or the hold released since that records refusing it. A hold file
    that cannot be looked at holds, as it holds promotions."""
    if (hold := promotionhold.read(root)) is None:
        gone = promotionhold.released(root)
        return gone if gone is not None and gone.refused == version else None
    if hold.refused == version:
        return hold
    try:
        placed = hold.path.stat().st_mtime
    except OSError:
        return hold
    return hold if placed <= published else None


def _published(root: Path, stamp: dict[str, Any]) -> tuple[str, Path, dict[str, Any]] | None:
    """The version the run published, its artifact and metadata; None when it published none."""
    for path in sorted(root.glob(f"*{SUFFIX}"), reverse=True):
        version = path.name[: -len(SUFFIX)]
        try:
            recent = VERSION.fullmatch(version) and path.stat().st_mtime >= float(stamp["started"]) - _SLACK_S
        except OSError:
            continue
        if not recent:
            continue
        try:
            meta = dhag.read_manifest(path).get("metadata") or {}
        except (ArtifactError, OSError):  # not this run's to judge: prune and the survey report it
            continue
        if isinstance(meta.get(RUN_KEY), dict) and meta[RUN_KEY].get("id") == stamp["id"]:
            return version, path, meta
    return None


def _report(path: Path) -> dict[str, Any] | None:
    """The run's own report, when it was written whole (None: missing or unreadable)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("decision") else None


def _write_report(
    path: Path,
    version: str,
    meta: dict[str, Any],
    stamp: dict[str, Any],
    outcome: str,
    published: float,
    hold: promotionhold.Hold | None = None,
) -> None:
    run = meta.get(RUN_KEY) or {}
    validation = meta.get("validation") or {}
    if hold is not None:  # as the run would have said it (pipeline.retrain.cycle)
        reasons = [
            f"the gate accepted it ({_ACCEPTED}), but {hold.line()}; `dhag-pipeline models promote "
            f"{version}` promotes it"
        ]
    elif outcome == "not_promoted":
        reasons = [
            "the gate accepted the candidate, but the retrainer stopped before promoting it: not promoted "
            f"('models promote {version}' promotes it); the next run trains on its labels again"
        ]
    else:
        reasons = list(run.get("reasons") or []) or [_ACCEPTED]
    content = {
        "schema": 1,
        "candidate": version,
        "parent": meta.get("parent"),
        "trigger": stamp["trigger"],
        "started": stamp["started"],
        "finished": published,
        "label_counts": meta.get("label_counts"),
        "training_window": meta.get("training_window"),
        "metrics": {
            "current": {k[len("current_") :]: v for k, v in validation.items() if k.startswith("current_")},
            "candidate": {k: v for k, v in validation.items() if not k.startswith("current_")},
        },
        "decision": outcome,
        "reasons": reasons,
        "after_error": _NOT_WRITTEN,
    }
    if hold is not None:
        content["promotion_hold"] = hold.as_dict()
    try:
        write_atomic(path, (json.dumps(content, indent=2, allow_nan=False) + "\n").encode())
    except (OSError, ValueError) as exc:
        log.warning("cannot write the report %s of the unrecorded run: %s", path, exc)
