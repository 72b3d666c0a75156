"""Who made the current version current: ``<model.registry>/promoted.json`` (``version``, ``by``: the
``retrainer``, an ``operator`` (``models promote``, a publication made current: ``models train``, the
demo), or a ``rollback``; ``at``, UTC; ``before``: the switch it followed), written by each switch of
``current`` (:func:`pipeline.registrypointer.switch`) once the pointer is written. A record that names
another version than ``current`` is no record of it (an earlier release's switch, a kill between the
pointer and the record, a record that could not be written).

``models rollback`` reads it: its note that the retrainer may promote a model like the one rolled back
belongs only to rolling back the retrainer's promotion (:func:`by_retrainer`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import dhag
from dhag import ArtifactError
from dhag.atomicwrite import write_atomic

__all__ = ["BY", "PROMOTED", "by_retrainer", "latest_switch", "made_by", "record"]

PROMOTED = "promoted.json"
BY = ("retrainer", "operator", "rollback")
_RUN_KEY = "retrain_run"  # pipeline.retrain.interrupted.RUN_KEY: in a candidate the retrainer published

log = logging.getLogger("pipeline.registry")  # its lines read as the registry's


def record(root: Path, version: str, by: str) -> None:
    """Record that ``by`` made ``version`` current (once the switch wrote ``current``). A write that
    fails is logged, not raised: the switch is done, and the record left names another version."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, got {by!r}")
    said = {
        "schema": 1,
        "version": version,
        "by": by,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if (before := _read(root)) is not None:  # the switch it replaces: what a rollback asks of
        said["before"] = {k: before[k] for k in ("version", "by", "at") if k in before}
    try:
        write_atomic(root / PROMOTED, (json.dumps(said) + "\n").encode())
    except OSError as exc:
        log.warning(
            "cannot record who made %s current in %s: %s", version, root / PROMOTED, exc.strerror or exc
        )


def made_by(root: Path, version: str) -> str | None:
    """Who made ``version`` current at the latest switch, or the one before it (``before``: a rollback
    from ``version`` is the latest), as the record says; None when neither names ``version``, or there
    is no record, or it cannot be read."""
    said = _read(root)
    for switch in (said, said.get("before") if said is not None else None):
        if isinstance(switch, dict) and switch.get("version") == version and switch.get("by") in BY:
            return str(switch["by"])
    return None


def latest_switch(root: Path, version: str) -> dict[str, str] | None:
    """Who made ``version`` current and when (``by``, ``at``), when the record's latest switch names it:
    what ``models show`` says of the current version; None otherwise."""
    said = _read(root)
    if said is None or said["version"] != version:
        return None
    return {"by": str(said["by"]), "at": str(said.get("at", "-"))}


def _read(root: Path) -> dict[str, object] | None:
    """The record (None: none, or it cannot be read, or is no record)."""
    try:
        said = json.loads((root / PROMOTED).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(said, dict) or not isinstance(said.get("version"), str) or said.get("by") not in BY:
        return None
    return said


def by_retrainer(root: Path, version: str) -> bool:
    """Whether the retrainer made ``version`` current: as recorded, else (a switch no record tells of:
    an earlier release's) whether the retrainer published it (its manifest's ``retrain_run``), which an
    operator seldom promotes by hand."""
    if (by := made_by(root, version)) is not None:
        return by == "retrainer"
    try:
        meta = dhag.read_manifest(root / f"{version}.dhag").get("metadata")
    except (ArtifactError, OSError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get(_RUN_KEY), dict)
