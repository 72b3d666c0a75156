"""The model registry folder: versioned artifacts ``<version>.dhag`` and a ``current`` pointer file.

``publish`` writes the artifact atomically (dhag's own temp file + rename), then atomically replaces
``current``; a reader therefore sees either the old or the new version, never a half-written one.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import dhag
from dhag import DHAG, ArtifactError
from pipeline.errors import ModelUnavailableError

__all__ = ["CURRENT", "current", "load_current", "publish"]

CURRENT = "current"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise ValueError(
            f"A model version must be 1-100 characters of letters, digits, '.', '_' or '-', starting with "
            f"a letter or digit. Got {version!r} instead."
        )
    return version


def publish(registry: str | Path, model: DHAG, version: str | None = None) -> str:
    """Save ``model`` as ``registry/<version>.dhag`` and make it current; returns the version.

    ``version`` defaults to a UTC timestamp (``v20261129T101500Z``, with a suffix if taken). The
    version is also stored in the artifact's metadata.
    """
    root = Path(registry)
    root.mkdir(parents=True, exist_ok=True)
    if version is None:
        base = time.strftime("v%Y%m%dT%H%M%SZ", time.gmtime())
        version, n = base, 1
        while (root / f"{version}.dhag").exists():
            n += 1
            version = f"{base}-{n}"
    _check_version(version)
    metadata = dict(getattr(model, "metadata_", {}) or {}) | {"version": version}
    model.save(root / f"{version}.dhag", metadata=metadata)
    fd, tmp = tempfile.mkstemp(prefix=".current.", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / CURRENT)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return version


def current(registry: str | Path) -> tuple[str, Path]:
    """The current ``(version, artifact path)``; raises :class:`ModelUnavailableError` when there is none."""
    root = Path(registry)
    pointer = root / CURRENT
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ModelUnavailableError(
            f"No model in the registry {str(root)!r}: {str(pointer)!r} does not exist. Publish one with "
            "pipeline.registry.publish(registry, model), which writes <version>.dhag and 'current'."
        ) from None
    except OSError as exc:
        raise ModelUnavailableError(f"Cannot read {str(pointer)!r}: {exc.strerror or exc}") from None
    try:
        _check_version(version)
    except ValueError as exc:
        raise ModelUnavailableError(f"{str(pointer)!r} does not name a valid version: {exc}") from None
    path = root / f"{version}.dhag"
    if not path.is_file():
        raise ModelUnavailableError(
            f"{str(pointer)!r} names version {version!r}, but {str(path)!r} does not exist."
        )
    return version, path


def load_current(registry: str | Path, *, device: str = "cpu") -> tuple[str, DHAG]:
    """Load the current model; raises :class:`ModelUnavailableError` for a missing pointer or a bad file."""
    version, path = current(registry)
    try:
        return version, dhag.load_model(path, device=device)
    except ArtifactError as exc:
        raise ModelUnavailableError(f"Cannot load model version {version!r}: {exc}") from None
