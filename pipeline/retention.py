"""Registry retention: the retrainer publishes a version on every run, promoted or not, so a plant that
retrains often (a drift trigger may fire every ``retrain.min_interval_s``) would fill the registry volume
over the months. :func:`prune` removes the versions nobody can still need.

Kept, always: the current version, every version in the history (the rollback targets), the newest
``keep`` versions by creation time, the versions named in ``also_keep`` (the retrainer names the one it
just published, in case a clock step back dated it before older ones), and any artifact that cannot be
read (an operator should look at it before it goes). A removed version loses its artifact, its
reference sample and its retraining report (``<version>.report.json``): at a run every ten minutes the
reports alone would be some fifty thousand files a year.

A publication or removal cut short (the process killed, the node lost) can leave a reference sample
or a report without its artifact, or a temp file of an atomic write; :func:`prune` removes those
leftovers too (a sample at once, since publication writes it under the same lock; a report at once, as
it is written only once its version is published; a temp file once it is an hour old, since a report
is written outside the lock). So does an artifact removed by hand: its sample and report go with the
next prune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from pathlib import Path

from pipeline.reference import REFERENCE_SUFFIX
from pipeline.registry import list_models
from pipeline.registrypointer import SUFFIX, history, locked, read_pointer

__all__ = ["prune"]

log = logging.getLogger(__name__)

REPORT_SUFFIX = ".report.json"  # written by pipeline.retrain.cycle beside the version it describes
STALE_TEMP_S = 3600.0  # a temp file of write_atomic this old belongs to no write still running


def prune(
    registry: str | Path, *, keep: int, also_keep: Collection[str] = (), dry_run: bool = False
) -> list[str]:
    """Remove the versions beyond the ``keep`` newest that are neither current nor in the history;
    returns them, oldest first (with ``dry_run``, what would be removed; nothing is). Holds the
    registry's lock, so no version is published, promoted or rolled back meanwhile.

    >>> import tempfile
    >>> prune(tempfile.mkdtemp(), keep=5)
    []
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the newest version), got {keep}")
    root = Path(registry)
    if not root.is_dir():
        return []
    with locked(root):
        protected = set(history(root)) | {read_pointer(root)} | set(also_keep)
        readable = [info for info in list_models(root) if info.error is None]  # oldest first
        doomed = [info for info in readable[:-keep] if info.version not in protected]
        if dry_run:
            return [info.version for info in doomed]
        for info in doomed:
            # The artifact first: a version is never visible without its sample (publish writes the
            # sample first), and a removal cut short leaves at most a stray sample.
            info.path.unlink(missing_ok=True)
            (root / f"{info.version}{REFERENCE_SUFFIX}").unlink(missing_ok=True)
            (root / f"{info.version}{REPORT_SUFFIX}").unlink(missing_ok=True)
        leftovers = _leftovers(root)
        for path in leftovers:
            path.unlink(missing_ok=True)
    if doomed or leftovers:
        log.info(
            "registry %s: removed %d old version(s) (%s) and %d leftover(s) of interrupted writes (%s); "
            "kept the newest %d, the current one, the history",
            root,
            len(doomed),
            ", ".join(info.version for info in doomed) or "-",
            len(leftovers),
            ", ".join(path.name for path in leftovers) or "-",
            keep,
        )
    return [info.version for info in doomed]


def _leftovers(root: Path) -> list[Path]:
    """Reference samples and reports whose artifact is gone, and temp files older than
    :data:`STALE_TEMP_S`. Called under the registry's lock, which every publication holds from its
    sample to its artifact (a report is written after its artifact)."""
    orphans = [
        path
        for suffix in (REFERENCE_SUFFIX, REPORT_SUFFIX)
        for path in root.glob(f"*{suffix}")
        if not (root / f"{path.name[: -len(suffix)]}{SUFFIX}").exists()
    ]
    cutoff = time.time() - STALE_TEMP_S
    stale = []
    for path in root.glob(".*.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                stale.append(path)
        except FileNotFoundError:  # its write just finished or failed
            continue
    return sorted(orphans) + sorted(stale)
