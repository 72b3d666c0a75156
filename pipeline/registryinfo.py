"""What the registry reports of one version: :class:`ModelInfo`, read from its artifact's manifest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dhag
from dhag import ArtifactError
from dhag.artifact import check_settings
from pipeline.artifactfault import fault_of, read_error, read_failure
from pipeline.reference import REFERENCE_SUFFIX, sample_state
from pipeline.registrysequence import sequence_of

__all__ = ["ModelInfo", "created_at", "misfiled", "model_info", "publication_order"]

_RUN_KEY = "retrain_run"  # pipeline.retrain.interrupted.RUN_KEY: the run that published a candidate


@dataclass(frozen=True)
class ModelInfo:
    """One artifact of the registry as :func:`pipeline.registry.list_models` and
    :func:`pipeline.registry.describe` report it.

    ``error`` is set (and the manifest fields are empty) when the artifact cannot be read, lists a
    setting this release does not know (:func:`dhag.artifact.check_settings`: it cannot load it), or
    records another version than it is filed under (:func:`misfiled`: no command loads it), and
    ``fault`` says which of :data:`FAULTS` (:mod:`pipeline.artifactfault`) it is. ``reference`` is the
    state of its reference sample (:data:`pipeline.reference.SAMPLE_STATES`, from the digest its manifest
    records; None when the artifact cannot be read), and ``reference_error`` why retraining from it would
    fail on that sample, and what to do.
    """

    version: str
    path: Path
    is_current: bool
    created: str | None = None
    parent: str | None = None
    training_window: Any = None
    label_counts: Any = None
    validation: Any = None
    threshold: float | None = None
    features: tuple[str, ...] = ()
    error: str | None = None
    fault: str | None = None
    reference: str | None = None
    reference_error: str | None = None
    #: Its place in the order of the registry's publications (``publish`` records it); None for a
    #: version published by an earlier release or saved by hand.
    sequence: int | None = None
    #: The retraining run that published it, with the gate's verdict (``accepted``, ``reasons``), as its
    #: metadata records it (:data:`pipeline.retrain.interrupted.RUN_KEY`); None for a version no run
    #: published (``models train``, the demo's first model, one saved by hand).
    retrain_run: dict[str, Any] | None = None

    def gate(self) -> str:
        """What the retrainer's gate made of it: ``accepted``, ``REFUSED`` (in capitals, as what an
        operator should not promote unread), or ``-`` for a version no retraining run judged.

        >>> ModelInfo("v2", Path("v2.dhag"), False, retrain_run={"accepted": False}).gate()
        'REFUSED'
        >>> ModelInfo("v1", Path("v1.dhag"), True).gate()
        '-'
        """
        accepted = (self.retrain_run or {}).get("accepted")
        if not isinstance(accepted, bool):
            return "-"
        return "accepted" if accepted else "REFUSED"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``path`` as a string)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["path"] = str(self.path)
        out["features"] = list(self.features)
        return out


def model_info(version: str, path: Path, is_current: bool) -> ModelInfo:
    """``version``'s artifact at ``path`` as the registry reports it: its manifest's fields, or why it
    cannot be read."""
    try:
        manifest = dhag.read_manifest(path)
        check_settings(path, manifest)
    except ArtifactError as exc:
        error = read_error(exc)
        said = str(exc) if error is None else read_failure(path, error)
        return ModelInfo(version, path, is_current, error=said, fault=fault_of(exc))
    meta = manifest.get("metadata")
    meta = meta if isinstance(meta, dict) else {}  # saved by hand: metadata may be no JSON object
    if (said := misfiled(path, version, meta.get("version"))) is not None:  # a copy under a new name
        return ModelInfo(version, path, is_current, error=said, fault="damaged")
    digest = meta.get("reference_sha256")
    sample = path.with_name(f"{version}{REFERENCE_SUFFIX}")
    reference, reference_error = sample_state(sample, digest if isinstance(digest, str) else None)
    return ModelInfo(
        version,
        path,
        is_current,
        created=_as_text(meta.get("created")),
        parent=_as_text(meta.get("parent")),
        training_window=meta.get("training_window"),
        label_counts=meta.get("label_counts"),
        validation=meta.get("validation"),
        threshold=manifest.get("threshold"),
        features=tuple(manifest.get("feature_names", ())),
        reference=reference,
        reference_error=reference_error,
        sequence=sequence_of(meta),
        retrain_run=run if isinstance(run := meta.get(_RUN_KEY), dict) else None,
    )


def misfiled(path: Path, version: str, recorded: Any) -> str | None:
    """Why the artifact at ``path``, filed as ``version``, is not that version: it records another one
    (a file copied or renamed by hand); None when it records ``version`` or none.

    >>> misfiled(Path("r/v9.dhag"), "v9", "v1")
    "Cannot load model version 'v9': 'r/v9.dhag' records version 'v1'."
    """
    if recorded is None or recorded == version:
        return None
    return f"Cannot load model version {version!r}: {str(path)!r} records version {recorded!r}."


def _as_text(value: Any) -> str | None:
    """A creation time or parent as text: a version saved by hand may record a number, a list, ... there,
    shown as its JSON; null is none (ordered by :func:`created_at`).

    >>> _as_text("v1"), _as_text(20261101), _as_text(["x"]), _as_text(None)
    ('v1', '20261101', '["x"]', None)
    """
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def publication_order(infos: Iterable[ModelInfo]) -> list[ModelInfo]:
    """``infos`` oldest first, in the order they were published: by the publication number each records
    (:mod:`pipeline.registrysequence`), which a clock stepped back does not turn around as it does
    creation times; those without one (an earlier release's, saved by hand) by :func:`created_at`,
    placed among the others by it. Unreadable ones last, by version.

    >>> made = [("a", "2026-11-01T11:00Z", 1), ("b", "2026-11-01T10:30Z", 2), ("old", "2026-10-01", None)]
    >>> v = [ModelInfo(n, Path(n), False, created=c, sequence=s) for n, c, s in made]
    >>> [i.version for i in publication_order(v)]
    ['old', 'a', 'b']
    """
    infos = list(infos)
    numbered = sorted(
        (i for i in infos if i.error is None and i.sequence is not None),
        key=lambda i: (i.sequence, i.version),
    )
    dated = sorted(
        (i for i in infos if i.error is None and i.sequence is None), key=lambda i: (created_at(i), i.version)
    )
    ordered: list[ModelInfo] = []
    while numbered and dated:  # a merge: each list keeps its own order
        first = dated if created_at(dated[0]) < created_at(numbered[0]) else numbered
        ordered.append(first.pop(0))
    ordered += numbered + dated
    return ordered + sorted(
        (i for i in infos if i.error is not None), key=lambda i: (created_at(i), i.version)
    )


def created_at(info: ModelInfo) -> float:
    """When ``info``'s version was made, in seconds since the epoch, to order versions by: the creation
    time its metadata records as ``publish`` writes it (ISO 8601), else, for a version saved by hand
    with none or another kind (a number, a list, "yesterday"), its file's modification time. Ordered as
    text, such a time came after every ISO time and the hand-saved version counted as the newest, which
    a prune keeps in a real version's place.

    >>> info = ModelInfo("v1", Path("v1.dhag"), False, created="2026-11-01T10:00:00Z")
    >>> created_at(info)
    1793527200.0
    """
    if info.created is not None:
        try:
            when = datetime.fromisoformat(info.created)
        except ValueError:
            pass
        else:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    try:
        return info.path.stat().st_mtime
    except OSError:  # gone meanwhile, or a link whose target is gone
        return 0.0
