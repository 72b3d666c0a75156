"""Registry retention: the retrainer publishes a version on every run, promoted or not, so a plant that
retrains often (a drift trigger may fire every ``retrain.min_interval_s``) would fill the registry volume
over the months. :func:`prune` removes the versions nobody can still need.

Kept, always: the current version, every version in the history (the rollback targets), the newest
``keep`` versions in the order they were published (:func:`pipeline.registryinfo.publication_order`:
a clock stepped back dates new versions before older ones, which would otherwise keep the older in the
newest places), the versions named in ``also_keep`` (the retrainer names the one it just published),
and any artifact that cannot be read, which :class:`Pruned` names with its fault
(:data:`pipeline.registry.FAULTS`). A newer release's version is that release's to load and prune (an
upgrade of the retrainer rolled back must find its models again when it comes back); a damaged one or
one signed with another key is an operator's to look at: nothing this release writes leaves one
(publication writes a temp file and renames it), so it came from a copy by hand, a restore or the
storage, and a copy may still be under way; its file dates say nothing sure of that (``cp -p`` and
restores keep them). One whose file failed to be read (``io_error``:
an I/O or permission error) may well be fine: its owner, mode and volume are to check; one whose file is
a link whose target is gone names the target, to restore or to remove the link. A removed
version loses its artifact, its reference sample and its retraining report (``<version>.report.json``):
at a run every ten minutes the reports alone would be some fifty thousand files a year.

A publication or removal cut short (the process killed, the node lost) can leave a reference sample
or a report without its artifact, or a temp file of an atomic write; :func:`prune` removes those
leftovers too (a sample at once, since publication writes it under the same lock; a report at once, as
it is written only once its version is published; a temp file once it is an hour old, since a report
is written outside the lock). So does an artifact removed by hand: its sample and report go with the
next prune.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Collection, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.artifactfault import gone_link
from pipeline.reference import REFERENCE_SUFFIX
from pipeline.registry import FAULTS, ModelInfo, list_models
from pipeline.registrypointer import SUFFIX, history, locked, read_pointer

__all__ = ["NO_ROOM", "Kept", "Pruned", "make_room", "prune", "survey"]

log = logging.getLogger(__name__)

REPORT_SUFFIX = ".report.json"  # written by pipeline.retrain.cycle beside the version it describes
STALE_TEMP_S = 3600.0  # a temp file of write_atomic this old belongs to no write still running
STATES = ("readable", *FAULTS)  # dhag_registry_versions{state}
_CANNOT_WRITE = (errno.EROFS, errno.EACCES, errno.EPERM)  # the lock file cannot be opened for writing
# The errors of a write that found no room on the registry's volume: full, or over its quota.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})


def make_room(keep_versions: int) -> str:
    """How to make room on a registry volume that is full, as a refusal or a failed run ends with it
    (``keep_versions``: ``retrain.keep_versions``, what the retrainer's prunes keep)."""
    return (
        "Make room: `dhag-pipeline models prune --keep N` with N below retrain.keep_versions "
        f"({keep_versions}) removes the older versions (`--dry-run` lists them), then set "
        "retrain.keep_versions to N so that the runs' prunes keep it so; or grow the volume"
    )


# Why an unreadable version is kept, and what to do with it (``models prune`` prints both).
_WHY = {
    "newer_release": ("written by a newer release of dhag", "that release loads and prunes it"),
    "bad_signature": (
        "not signed with this deployment's key (DHAG_ARTIFACT_KEY)",
        "re-sign it with 'dhag sign' or remove it by hand",
    ),
    "damaged": (
        "damaged (truncated, failing its checksum, not a regular file)",
        "see 'models list', then remove it by hand",
    ),
    "io_error": (
        "its file failed to be read (an I/O or permission error, which says nothing of its content)",
        "check its owner and mode and the registry's volume (I/O errors in the node's kernel log)",
    ),
}


class Kept(NamedTuple):
    """An unreadable version :func:`prune` kept: its ``fault`` (of :data:`pipeline.registry.FAULTS`),
    ``role``: ``current``, ``history`` (a rollback target) or None, and ``link_target``: the target,
    gone, of a version's file that is a symbolic link (an ``io_error``), else None."""

    version: str
    fault: str
    role: str | None = None
    link_target: str | None = None

    def line(self) -> str:
        """One line saying which version was kept and why.

        >>> Kept("v3", "newer_release").line()
        'kept v3, unreadable: written by a newer release of dhag; that release loads and prunes it'
        >>> for part in Kept("v4", "io_error", link_target="/mnt/v4.dhag").line().split("; "):
        ...     print(part)
        kept v4, unreadable: its file is a link whose target does not exist ('/mnt/v4.dhag')
        restore its target (or mount its volume), or remove the link by hand
        """
        what, advice = _WHY[self.fault]
        if self.link_target is not None:  # no owner or mode to check: the file it names is not there
            what = f"its file is a link whose target does not exist ({self.link_target!r})"
            advice = "restore its target (or mount its volume), or remove the link by hand"
        if self.role == "current" and self.fault in ("damaged", "bad_signature"):
            advice = "promote a readable version before anything else"
        role = {"current": ", current", "history": ", in the rollback history"}.get(self.role or "", "")
        return f"kept {self.version}, unreadable{role}: {what}; {advice}"


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed (or would, with ``dry_run``), oldest first; the unreadable versions it
    kept; and the versions left by state (:data:`STATES`), counted from the listing it made."""

    removed: list[str]
    kept_unreadable: list[Kept]
    versions: dict[str, int]


def _count(infos: Sequence[ModelInfo]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for info in infos:
        counts[info.fault or "readable"] += 1
    return counts


def survey(registry: str | Path) -> dict[str, int]:
    """The registry's versions by state (:data:`STATES`), all of them at 0 for a missing folder. It
    reads every artifact's header and checks its checksum, as :func:`prune` does; no model is built.

    >>> import tempfile
    >>> survey(tempfile.mkdtemp())
    {'readable': 0, 'newer_release': 0, 'bad_signature': 0, 'damaged': 0, 'io_error': 0}
    """
    root = Path(registry)
    return _count(list_models(root) if root.is_dir() else [])


def prune(
    registry: str | Path, *, keep: int, also_keep: Collection[str] = (), dry_run: bool = False
) -> Pruned:
    """Remove the readable versions beyond the ``keep`` newest that are neither current nor in the
    history (with ``dry_run``, say which would go; nothing does). Holds the registry's lock, so no
    version is published, promoted or rolled back meanwhile; a dry run on a registry whose lock file it
    may not write (a read-only mount) reads it without, as does a prune that finds nothing to remove
    there (one that would remove something raises the lock's ``OSError``).

    >>> import tempfile
    >>> prune(tempfile.mkdtemp(), keep=5).removed
    []
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the newest version), got {keep}")
    root = Path(registry)
    if not root.is_dir():
        return Pruned([], [], _count([]))
    with ExitStack() as stack:
        unlocked = None
        try:
            stack.enter_context(locked(root))
        except OSError as exc:
            # A dry run only reads: on a registry mounted read-only (a daemon's pod) it lists without
            # the lock, which a publication meanwhile could leave one version behind. So does a prune
            # that finds nothing to remove there; one that would remove something is refused.
            if exc.errno not in _CANNOT_WRITE:
                raise
            unlocked = exc
        past, present = history(root), read_pointer(root)
        protected = set(past) | {present} | set(also_keep)
        infos = list_models(root)  # oldest first, the unreadable last
        readable = [info for info in infos if info.error is None]
        doomed = [info for info in readable[:-keep] if info.version not in protected]
        roles = dict.fromkeys(past, "history") | {present: "current"}
        kept = [
            Kept(
                info.version,
                info.fault or "damaged",
                roles.get(info.version),
                gone_link(info.path) if info.fault == "io_error" else None,
            )
            for info in infos
            if info.error is not None
        ]
        gone = {info.version for info in doomed}
        left = _count([info for info in infos if info.version not in gone or dry_run])
        if dry_run:
            return Pruned([info.version for info in doomed], kept, left)
        if unlocked is not None:
            if doomed or _leftovers(root):
                raise unlocked
            return Pruned([], kept, left)
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
    if kept:
        log.info(
            "registry %s: kept %d version(s) it cannot read (%s); 'models prune --dry-run' says why",
            root,
            len(kept),
            ", ".join(f"{k.version}: {k.fault}" for k in kept),
        )
    return Pruned([info.version for info in doomed], kept, left)


def _leftovers(root: Path) -> list[Path]:
    """Reference samples and reports whose artifact is gone, and temp files older than
    :data:`STALE_TEMP_S`. Called under the registry's lock, which every publication holds from its
    sample to its artifact (a report is written after its artifact). An artifact that is a link whose
    target is gone (its volume not mounted) is a version kept, not a gone one: its sample and report
    stay for when the target is back."""
    orphans = [
        path
        for suffix in (REFERENCE_SUFFIX, REPORT_SUFFIX)
        for path in root.glob(f"*{suffix}")
        if not os.path.lexists(root / f"{path.name[: -len(suffix)]}{SUFFIX}")
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
