"""What ``run`` and ``retrain`` would refuse of valid settings on this host, found by ``check-config``
without starting either: certificate files they cannot read, GSSAPI without its library and a CUDA
device the host lacks, no CUDA at all or fewer GPUs than a ``cuda:N`` needs (config errors: exit 2),
and a registry without a model, or one it cannot look at (a warning: they exit 4). Nothing here loads a
model or reaches Kafka: the broker's address, its topics and the credentials it takes are found by
``run``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.config import Settings
from pipeline.configchecks import placed_problems, where_set
from pipeline.configlines import file_lines
from pipeline.configsecurity import set_at
from pipeline.configvalues import shown

__all__ = ["host_notes", "host_problems", "no_registry_folder"]

# The registry's pointer file (pipeline.registrypointer.CURRENT, a module that imports torch).
_CURRENT = "current"


def host_problems(
    settings: Settings, environ: Mapping[str, str] | None = None, path: str | Path | None = None
) -> list[str]:
    """One ``config error`` line for each setting ``run`` or ``retrain`` would stop on (exit 2) here,
    each ending, when ``environ`` or ``path`` is given, with the variable or the line of the config file
    at ``path`` that set its key (:func:`~pipeline.configchecks.where_set`)."""
    problems = _problems(settings)
    if not problems or (environ is None and path is None):
        return problems
    return placed_problems(problems, environ, path)


def _problems(settings: Settings) -> list[str]:
    problems = settings.kafka.security.problems_here()
    devices = {
        "model.device": (settings.model.device, "run"),
        "retrain.device": (settings.retrain.device, "retrain"),
    }
    for key, (device, command) in devices.items():
        if not device.startswith("cuda"):
            continue
        count = _cuda_devices()
        if not count:
            problems.append(
                f"config error: {key}: {device!r}: CUDA is not available on this host, and {command} would "
                "stop on it: write cpu, or auto for CUDA where there is one"
            )
        elif int(device.partition(":")[2] or 0) >= count:  # check_device passed only cuda and cuda:N
            names = "cuda:0" + (f" to cuda:{count - 1}" if count > 1 else "")
            some = f"{count} CUDA devices ({names})" if count > 1 else f"1 CUDA device ({names})"
            problems.append(
                f"config error: {key}: {device!r}: this host has {some}, and {command} would stop on it: "
                f"write {'one of them' if count > 1 else names}, cpu, or auto"
            )
    return problems


def host_notes(
    settings: Settings, environ: Mapping[str, str] | None = None, path: str | Path | None = None
) -> list[str]:
    """What ``run`` and ``retrain`` would stop on here that no setting can fix alone: a registry with no
    model yet (both exit 4); ending, when ``environ`` or ``path`` is given, with where
    ``model.registry`` was set (:func:`~pipeline.configchecks.where_set`)."""
    notes = _registry_notes(settings)
    if not notes or (environ is None and path is None):
        return notes
    where = where_set([("model", "registry")], environ or {}, path, file_lines(path))
    return [note + where for note in notes]


def _registry_notes(settings: Settings) -> list[str]:
    root = Path(settings.model.registry)
    named = f"model.registry {shown(str(root))}"  # a long path cut, as every value an error shows
    fix = "run and retrain exit 4 until 'dhag-pipeline models train HISTORY' publishes a model there"
    try:
        if not root.exists():
            return [f"{named}: there is no such folder (a misspelt path?); {fix}"]
        if not root.is_dir():
            return [f"{named}: not a folder; {fix}"]
        if not (root / _CURRENT).exists():
            return [f"{named}: holds no model (no '{_CURRENT}' in it); {fix}"]
    except OSError as exc:  # a folder above it this user may not enter, a path too long for the system
        return [f"{named}: cannot be looked at here ({exc.strerror or exc}); run and retrain exit 4"]
    return []


def no_registry_folder(settings: Settings) -> str | None:
    """Why ``model.registry`` names no folder (missing: a misspelt path; a file), with where the key was
    set (:func:`~pipeline.configsecurity.set_at`), as ``run`` and ``retrain`` say it before their exit 4;
    None when it is a folder, or cannot be looked at (the model's load says why)."""
    root = Path(settings.model.registry)
    try:
        what = None if root.is_dir() else "is not a folder" if root.exists() else "missing"
    except OSError:
        return None
    if what is None:
        return None
    where = set_at(settings, "model.registry")
    key = f"model.registry{', ' + where.strip()[1:-1] if where else ''}"
    fix = "'dhag-pipeline models train HISTORY' publishes a first model there"
    if what == "missing":
        return f"there is no registry folder {str(root)!r} ({key}: a misspelt path?); {fix}"
    return f"the registry {str(root)!r} ({key}) is not a folder; {fix}"


def _cuda_devices() -> int:
    """How many CUDA devices torch sees here (0 where CUDA is not available)."""
    import torch  # only for a CUDA device: check-config imports no torch otherwise

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
