"""The model registry folder: versioned artifacts ``<version>.dhag``, a ``current`` pointer and a history.

Every artifact carries its registry metadata (version, parent version, created time, training window,
label counts, validation metrics) inside its own manifest, so the folder needs no separate index. The
``current`` file names the version in use; ``history`` (JSON) lists the versions that were current
before it, newest last, for :func:`rollback`. Both are replaced atomically (temp file, fsync, rename),
so a reader sees the old or the new content, never a half-written one; switches take a lock file so two
commands cannot interleave. :func:`promote` and :func:`rollback` load and verify an artifact before
pointing ``current`` at it.

A version may carry a bounded *reference sample* of the normal readings it was trained on
(``<version>.reference.json.gz``, :func:`load_reference`; the file is :mod:`pipeline.reference`'s).
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import dhag
from dhag import DHAG, ArtifactError
from dhag.atomicwrite import write_atomic
from pipeline import promotionhold, sensorswitch
from pipeline.artifactfault import FAULTS, fault_of, read_error, read_failure
from pipeline.errors import CurrentChangedError, ModelUnavailableError, VersionUnreadableError
from pipeline.reference import REFERENCE_SUFFIX, read_reference, write_reference
from pipeline.registryinfo import ModelInfo, misfiled, model_info, publication_order
from pipeline.registrypointer import (
    CURRENT,
    HISTORY,
    SUFFIX,
    VERSION,
    absence,
    check_version,
    history,
    locked,
    pointer_to_replace,
    read_pointer,
    switch,
)
from pipeline.registrysequence import next_sequence, record_sequence
from pipeline.rollbackwalk import PassedOver, walk_back
from pipeline.servable import check_servable

__all__ = [
    "CURRENT",
    "FAULTS",
    "HISTORY",
    "ModelInfo",
    "PassedOver",
    "current",
    "describe",
    "history",
    "list_models",
    "load_current",
    "load_reference",
    "load_version",
    "promote",
    "publish",
    "rollback",
]

log = logging.getLogger(__name__)


def check_new_version(registry: str | Path, version: str) -> None:
    """Raise ``ValueError`` unless ``version`` is a valid name not yet taken in ``registry``."""
    if (Path(registry) / f"{check_version(version)}{SUFFIX}").exists():
        raise ValueError(
            f"version {version!r} already exists in {registry}; a published version is never replaced"
        )


def publish(
    registry: str | Path,
    model: DHAG,
    version: str | None = None,
    *,
    parent: str | None = None,
    derived: bool = True,
    training_window: Mapping[str, Any] | None = None,
    label_counts: Mapping[str, int] | None = None,
    validation: Mapping[str, float] | None = None,
    make_current: bool = True,
    reference: Sequence[tuple[str, float, Mapping[str, float]]] | None = None,
) -> str:
    """Save ``model`` as ``registry/<version>.dhag`` and (unless ``make_current`` is False) make it
    current; returns the version.

    ``version`` defaults to a UTC timestamp and the publication number (``v20261129T101500Z-42``: never
    a name the registry had, whatever the clock did, :func:`_default_version`); ``parent``
    to the version current at the time, unless ``derived`` is False (a model trained afresh: none). The
    version, parent, creation time, publication number (its place among the registry's publications,
    which orders versions whatever the clock did), training window, label counts and validation metrics
    are stored in the artifact's metadata. ``reference``: readings
    ``(asset_id, ts, values)`` of the normal operation the model was trained on, saved beside it (before
    the artifact, so a version is never visible without its sample), as strict JSON: a value that is no
    finite number is left out of its reading, a reading whose time is not one left out, with a warning.

    A publication that fails (a full or read-only volume) raises and leaves no version: neither the
    artifact nor its sample, and ``current`` as it was. Made current, it replaces a damaged ``current``
    and refuses one no switch replaces, as :func:`promote` does.
    """
    root = Path(registry)
    root.mkdir(parents=True, exist_ok=True)
    # The whole publication holds the registry's lock: two publishers never pick the same version,
    # and a version, once written, is never replaced (a daemon serving it, and a rollback to it,
    # would otherwise mean another model under the same name).
    with locked(root):
        # Its place among the registry's publications: what orders versions for a prune, which
        # creation times do not once the clock was stepped back (an hour ahead, then set right).
        sequence = next_sequence(root)  # the registry's count, not every version's manifest
        if version is None:
            version = _default_version(root, sequence)
        check_new_version(root, version)
        # Made current, it replaces a damaged pointer (said once, here) and refuses one no switch replaces.
        replaced = pointer_to_replace(root, version) if make_current else None
        if parent is None and derived:
            parent = replaced if make_current else read_pointer(root)
        registry_fields = {
            "version": version,
            "parent": parent,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sequence": sequence,
            "training_window": dict(training_window) if training_window is not None else None,
            "label_counts": dict(label_counts) if label_counts is not None else None,
            "validation": dict(validation) if validation is not None else None,
        }
        if reference is not None:
            # The sample trains the next candidate: its digest rides in the model's checksummed (and,
            # with DHAG_ARTIFACT_KEY, signed) manifest, so an edited sample is refused like an edited model.
            registry_fields["reference_sha256"] = write_reference(
                root / f"{version}{REFERENCE_SUFFIX}", version, reference
            )
        metadata = dict(getattr(model, "metadata_", {}) or {}) | registry_fields
        try:
            model.save(root / f"{version}{SUFFIX}", metadata=metadata)
            record_sequence(root, sequence)
            if make_current:
                switch(root, version, replaced, remember_previous=True)
        except BaseException:
            # A model save refuses (a threshold no load accepts, a file over the size limit) or that
            # fails, or a switch that fails (a full volume), leaves no version: not its sample either,
            # which would sit there for no model. Nothing has served it (it never became current, and
            # the lock was held), and its name is free for a retry once the volume has space.
            if _present(root) != version:  # an interrupt after the rename leaves the switch done
                _withdraw(root, version)
            raise
        return version


def _default_version(root: Path, sequence: int) -> str:
    """The name of a version published without one: its UTC time and its publication number, which no
    earlier publication had (``v20261129T101500Z-42``). The time alone named the versions of one second
    alike, and, once the clock was stepped back, a pruned version's name came round again: the reports,
    logs and alerts that named the pruned model then named another. A name taken all the same (saved by
    hand) gets a further suffix."""
    base = f"{time.strftime('v%Y%m%dT%H%M%SZ', time.gmtime())}-{sequence}"
    version, n = base, 1
    while (root / f"{version}{SUFFIX}").exists():
        n += 1
        version = f"{base}-{n}"
    return version


def _withdraw(root: Path, version: str) -> None:
    """Remove a version whose publication failed, as far as its volume lets (best effort: what stays
    behind, a read-only volume's, is what the failure left; a prune removes a sample left alone)."""
    for path in (root / f"{version}{SUFFIX}", root / f"{version}{REFERENCE_SUFFIX}"):
        with suppress(OSError):
            path.unlink(missing_ok=True)


def _artifact(root: Path, version: str) -> Path:
    try:
        check_version(version)
    except ValueError as exc:
        raise VersionUnreadableError(str(exc), "missing") from None
    path = root / f"{version}{SUFFIX}"
    # A folder, or a link whose target is gone, is listed as a version that cannot be read: read, it
    # says what it is (not a regular file; a link to a target that does not exist), as the listing does.
    if (what := absence(path, version)) is not None and not os.path.lexists(path):
        raise VersionUnreadableError(
            f"The registry {str(root)!r} has no version {version!r} ({str(path)!r} {what}).", "missing"
        )
    return path


def current(registry: str | Path) -> tuple[str, Path]:
    """The current ``(version, artifact path)``; raises :class:`ModelUnavailableError` when there is none."""
    root = Path(registry)
    pointer = root / CURRENT
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ModelUnavailableError(
            f"No model in the registry {str(root)!r}: {str(pointer)!r} does not exist. Train and publish "
            "one from a normal-operation history (CSV or Parquet: asset_id, t and the sensors) with "
            "'dhag-pipeline models train HISTORY' (in Kubernetes, from the toolbox pod)."
        ) from None
    except IsADirectoryError:
        raise ModelUnavailableError(f"{str(pointer)!r} is not a file: remove it") from None
    except OSError as exc:  # io_error: the read may work once its owner or volume is fixed
        raise VersionUnreadableError(read_failure(pointer, exc), "io_error") from None
    except UnicodeDecodeError:
        raise ModelUnavailableError(f"the pointer {str(pointer)!r} is not text: rewrite it") from None
    try:
        check_version(version)
    except ValueError as exc:
        raise ModelUnavailableError(f"{str(pointer)!r} does not name a valid version: {exc}") from None
    path = root / f"{version}{SUFFIX}"
    if (what := absence(path, version)) is not None:
        raise ModelUnavailableError(f"{str(pointer)!r} names version {version!r}, but {str(path)!r} {what}.")
    return version, path


def load_version(registry: str | Path, version: str, *, device: str = "cpu") -> DHAG:
    """Load and verify one version; raises :class:`~pipeline.errors.VersionUnreadableError` naming the
    version and the fault (its ``fault``: ``missing``, ``damaged``, ``bad_signature``, ``newer_release``,
    or ``io_error``: the read failed, an ``OSError`` such as EIO or EACCES, which says nothing of the file).

    Beyond dhag's own checks (format version, checksum, consistent weights) the artifact's recorded
    version must be the one it is filed under, so a copied or renamed file is not served by mistake,
    and the model must be servable (:func:`pipeline.servable.check_servable`).
    """
    path = _artifact(Path(registry), version)
    try:
        model = dhag.load_model(path, device=device)
    except ArtifactError as exc:
        if (error := read_error(exc)) is not None:  # ENOENT: removed since it was found, so missing
            fault = "missing" if error.errno == errno.ENOENT else "io_error"
            said = f"{read_failure(path, error)} (version {version!r})"
            raise VersionUnreadableError(said, fault) from None
        raise VersionUnreadableError(f"Cannot load model version {version!r}: {exc}", fault_of(exc)) from None
    if not isinstance(model.metadata_, dict):  # saved by hand with metadata that is no JSON object
        log.warning(
            "model version %r has metadata that is no JSON object (%s): read as none",
            version,
            type(model.metadata_).__name__,
        )
        model.metadata_ = {}
    if (said := misfiled(path, version, model.metadata_.get("version"))) is not None:
        raise VersionUnreadableError(said, "damaged")
    return check_servable(model, version)


def _recorded_reference_digest(root: Path, version: str) -> str | None:
    """The reference sample's SHA-256 as ``version``'s verified manifest records it (None: published
    before samples were digested)."""
    try:
        metadata = dhag.read_manifest(_artifact(root, version)).get("metadata")
    except ArtifactError as exc:
        raise ModelUnavailableError(f"Cannot load model version {version!r}: {exc}") from None
    return metadata.get("reference_sha256") if isinstance(metadata, dict) else None


def load_reference(registry: str | Path, version: str) -> list[tuple[str, float, dict[str, float]]]:
    """The reference sample saved with ``version`` (``(asset_id, ts, values)``, oldest first); empty
    when the version has none. Raises :class:`ModelUnavailableError` for an unreadable sample."""
    path = Path(registry) / f"{check_version(version)}{REFERENCE_SUFFIX}"
    return read_reference(path, version, _recorded_reference_digest(Path(registry), version))


def load_current(registry: str | Path, *, device: str = "cpu") -> tuple[str, DHAG]:
    """Load the current model; raises :class:`ModelUnavailableError` for a missing pointer or a bad file."""
    version, _path = current(registry)
    return version, load_version(registry, version, device=device)


def promote(
    registry: str | Path,
    version: str,
    *,
    device: str = "cpu",
    only_over: str | None = None,
    other_sensors: bool = False,
    unless_held: bool = False,
    by: str = "operator",
) -> str | None:
    """Make ``version`` current after loading it; returns the version it replaced (None if none).

    Raises :class:`ModelUnavailableError` (and changes nothing) when the artifact is missing or fails to
    load. With ``only_over``, the switch happens only while that version is still current, checked under
    the registry's lock; else :class:`CurrentChangedError` and nothing changes (a retrained candidate
    judged against a model an operator has since rolled back must not replace the rollback). A
    damaged ``current`` (not text, or no valid version name) is replaced (the switch repairs it), with a
    warning; with ``only_over`` it is refused (:class:`ModelUnavailableError`), changing nothing. One
    that cannot be read (no permission, an I/O error) is refused either way, naming the file and the
    error: it may name the version in use, which the history would lose. A version that reads other
    sensors than the current one (which the daemons serve, and would not hot-swap from) is refused
    unless ``other_sensors`` (:mod:`pipeline.sensorswitch`); with ``only_over`` (a candidate trained
    from that version, on its sensors) ``only_over`` alone decides. With ``unless_held`` (the
    retrainer's), a promotion hold refuses it, checked under the lock (:mod:`pipeline.promotionhold`).
    ``by``: who promotes (``retrainer`` or ``operator``), recorded (:mod:`pipeline.promotedby`). An
    operator's promotion of the version already current (loaded all the same) changes nothing, and
    writes nothing: not even who made it current."""
    root = Path(registry)
    model = load_version(root, version, device=device)
    if only_over is None and _present(root) == version:
        return version  # nothing to change: no lock taken, nothing written (a read-only registry too)
    if not other_sensors and only_over is None:
        present, load = _present(root), functools.partial(load_version, root, device=device)
        if (found := sensorswitch.other_sensors(present, model, load)) is not None:
            raise ModelUnavailableError(sensorswitch.refusal(version, str(present), found))
    with locked(root):
        previous = read_pointer(root) if only_over is not None else pointer_to_replace(root, version)
        if only_over is not None and previous != only_over:
            raise CurrentChangedError(
                f"not promoting {version!r}: it was judged against {only_over!r}, but {previous!r} is "
                "current now"
            )
        if unless_held:
            promotionhold.check(root, version)
        _artifact(root, version)  # still there: a prune may have run since it was loaded
        switch(root, version, previous, remember_previous=True, by=by)
    return previous


def rollback(
    registry: str | Path, *, device: str = "cpu", passed_over: list[PassedOver] | None = None
) -> tuple[str | None, str]:
    """Go back to the newest earlier current version that loads; returns ``(replaced, restored)``.

    The history is shortened to the entries before the restored one, so a second rollback goes one
    further back. Entries after it that no longer load (damaged, signed with another key, a newer
    release's, missing) are passed over and leave the history with it; each is appended to
    ``passed_over`` when given, else logged as a warning. Raises :class:`ModelUnavailableError` (and
    changes nothing) when no earlier version loads, naming each entry and why. A damaged ``current``
    is replaced, and an unreadable one refused, as by :func:`promote`. A history that cannot be
    shortened once ``current`` switched (a full volume) is logged, not raised: the rollback is done.
    """
    root = Path(registry)
    with locked(root):
        past = history(root)
        index, passed = walk_back(root, past, _present(root), lambda v: load_version(root, v, device=device))
        target = past[index]
        present = pointer_to_replace(root, target)  # refuses an unreadable pointer, before any write
        # current first: cut short after it, the history still lists the version now current, which
        # the next rollback skips, and those passed over, which it passes over again (walk_back).
        switch(root, target, present, remember_previous=False, by="rollback")
        try:
            write_atomic(root / HISTORY, (json.dumps(past[:index]) + "\n").encode())
        except OSError as exc:  # the rollback is done: raised, it read as refused, and a retry went further
            log.warning(
                "%s is current again, but the history %s could not be shortened (%s): the next "
                "rollback skips %s and passes over what this one did",
                target,
                root / HISTORY,
                exc.strerror or exc,
                target,
            )
    for entry in passed:
        if passed_over is None:
            log.warning("rollback passed over %s: %s", entry.version, entry.why())
        else:
            passed_over.append(entry)
    return present, target


def list_models(registry: str | Path) -> list[ModelInfo]:
    """Every artifact of the registry, oldest first, in the order they were published (unreadable ones
    last; :func:`~pipeline.registryinfo.publication_order`).
    One removed between the folder's listing and its read (a prune elsewhere, a hand removal) is left
    out, not reported as a failed read; a link whose target is gone is still one."""
    root = Path(registry)
    present = _present(root)
    infos = [
        model_info(path.name[: -len(SUFFIX)], path, path.name[: -len(SUFFIX)] == present)
        for path in sorted(root.glob(f"*{SUFFIX}"))
        if VERSION.fullmatch(path.name[: -len(SUFFIX)])
    ]
    infos = [info for info in infos if info.fault != "io_error" or os.path.lexists(info.path)]
    return publication_order(infos)


def describe(registry: str | Path, version: str) -> ModelInfo:
    """One version's :class:`ModelInfo`; raises :class:`ModelUnavailableError` when it does not exist."""
    root = Path(registry)
    path = _artifact(root, version)
    return model_info(version, path, _present(root) == version)


def _present(root: Path) -> str | None:
    """The version ``current`` names; None when it names none or is damaged (:func:`current` says why)."""
    try:
        return read_pointer(root)
    except ModelUnavailableError:
        return None
