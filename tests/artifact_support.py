"""Helpers of the artifact tests: a model file's header, and a copy of one with its header changed."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dhag import DHAG, read_manifest
from dhag.artifact import write_artifact


def header(data: bytes) -> dict:
    """The safetensors header of a model file's bytes."""
    return json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])


def resave(src: Path, dst: Path, **meta_changes: str) -> Path:
    """Rewrite ``src`` with the same tensors and the header metadata changed."""
    data = src.read_bytes()
    meta = header(data)["__metadata__"] | meta_changes
    dst.write_bytes(st_save(st_load(data), metadata=meta))
    return dst


def save_with_metadata(model: DHAG, path: Path, metadata: object) -> Path:
    """Save ``model`` to ``path`` with ``metadata`` written as given, as releases before ``save`` held
    metadata to a dict of JSON values wrote it (a list, a text): the files a registry may still hold."""
    model.save(path)
    manifest = read_manifest(path) | {"metadata": metadata}
    return write_artifact(path, manifest, st_load(path.read_bytes()))
