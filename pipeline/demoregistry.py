"""The registry ``dhag-pipeline demo`` trains into, serves from and has its retrainer promote in, and the
registries it leaves alone.

The demo makes its model current in its registry (``--registry DIR``, else ``model.registry``) and its
retrainer promotes and prunes there. A daemon serving a real plant from that folder would load the
demo's model at its next reload, so the demo takes a registry only when it holds no model at all (no
``current``, no version: ``make run``'s first start) or when its current model is a demo model (one
trained for a simulated plant, by a demo or by its retrainer from one: their metadata's ``fleet``
names the simulator). Any other, or one it cannot tell (a pointer or an artifact it cannot read), is
refused at start, before anything is trained or started, in one line naming the setting and what to
do; nothing in it is changed. While the demo runs, :class:`RegistryWatch` looks whether a model it did
not train was made current there (``models train`` or ``models promote`` with the same settings): the
demo then stops, before its retrainer trains from that model, promotes over it or prunes beside it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dhag
from dhag import ArtifactError
from pipeline.artifactfault import fault_of
from pipeline.config import Settings
from pipeline.errors import ConfigError, ModelUnavailableError, VersionUnreadableError
from pipeline.registrypointer import SUFFIX, absence, read_pointer

__all__ = [
    "DEMO_FLEET_KEY",
    "DemoRegistryError",
    "RegistryWatch",
    "demo_registry",
    "is_demo_model",
    "refusal",
]

DEMO_FLEET_KEY = "simulator"  # in the fleet metadata of every model the demo trains
_WOULD = (
    "the demo would make its own model current there, and a daemon serving that registry would load it; "
    "nothing was changed"
)
_ADVICE = {
    "model.registry": "give the demo a folder of its own with --registry DIR, or a config without "
    "model.registry",
    "--registry": "give it another folder",
}


class DemoRegistryError(ConfigError):
    """The demo's registry holds a model the demo did not train: it is left as it is."""


def demo_registry(settings: Settings, given: str | None) -> tuple[Path, str]:
    """The demo's registry, absolute, and the setting that named it: ``--registry`` when ``given``
    (against the working directory), else ``model.registry``."""
    if given is not None:
        return Path(given).expanduser().absolute(), "--registry"
    return Path(settings.model.registry), "model.registry"


def is_demo_model(metadata: Mapping[str, Any] | Any) -> bool:
    """Whether a model's metadata says the demo trained it (or its retrainer, from one it trained).

    >>> is_demo_model({"fleet": {"simulator": 1, "seed": 0}}), is_demo_model({"fleet": {"history": "h.csv"}})
    (True, False)
    """
    fleet = metadata.get("fleet") if isinstance(metadata, Mapping) else None
    return isinstance(fleet, Mapping) and DEMO_FLEET_KEY in fleet


def refusal(registry: str | Path, named: str, advice: str | None = None) -> str | None:
    """None when the demo may make its model current in ``registry``, else the one line that says why
    not (``named``: the setting that gave the folder; ``advice``: what to do, by default for the
    ``demo`` command)."""
    root = Path(registry)
    try:
        version = read_pointer(root)
    except ModelUnavailableError as exc:
        what = f"has a current pointer that cannot be read ({exc})"
    else:
        if version is None:
            versions = (
                sorted(p.name[: -len(SUFFIX)] for p in root.glob(f"*{SUFFIX}")) if root.is_dir() else []
            )
            if not versions:
                return None
            shown = ", ".join(map(repr, versions[:3])) + (
                f", ... ({len(versions)} in all)" if len(versions) > 3 else ""
            )
            what = f"holds model versions ({shown}) but none is current"
        else:
            what = _current_model(root, version)
            if what is None:
                return None
    return f"demo: {named} {root} {what}: {_WOULD}; {advice or _ADVICE[named]}"


def _current_model(root: Path, version: str) -> str | None:
    """None when ``version`` is a demo model, else what it is."""
    path = root / f"{version}{SUFFIX}"
    unread = f"has current model {version!r}, which cannot be read ({{}}) to tell who trained it"
    try:
        if (gone := absence(path, version)) is not None:
            return f"has current model {version!r}, but {str(path)!r} {gone}"
        metadata = dhag.read_manifest(path).get("metadata")
    except VersionUnreadableError as exc:  # a stat the system failed
        return unread.format(exc.fault)
    except ArtifactError as exc:
        return unread.format(fault_of(exc))
    if is_demo_model(metadata):
        return None
    return f"has current model {version!r}, which the demo did not train"


class RegistryWatch:
    """Whether the demo's registry still has a demo model current, looked at most every ``every_s``
    (the pointer, and a version's manifest once)."""

    def __init__(self, registry: Path, named: str, every_s: float = 1.0) -> None:
        self.registry, self.named, self.every_s = registry, named, every_s
        self._next = 0.0
        self._demo: set[str] = set()

    def taken(self) -> str | None:
        """The demo's line when the current model is one it did not train, else None (also while the
        pointer or the model cannot be read: the daemon and the retrainer say so, and switch nothing)."""
        if (now := time.monotonic()) < self._next:
            return None
        self._next = now + self.every_s
        try:
            version = read_pointer(self.registry)
            if version is None or version in self._demo:
                return None
            metadata = dhag.read_manifest(self.registry / f"{version}{SUFFIX}").get("metadata")
        except (ModelUnavailableError, ArtifactError, OSError):
            return None
        if is_demo_model(metadata):
            self._demo.add(version)
            return None
        return (
            f"demo: {self.named} {self.registry} has current model {version!r}, which the demo did not "
            "train, made current while the demo ran: stopping, before its retrainer trains from it, "
            "promotes over it or prunes beside it"
        )
