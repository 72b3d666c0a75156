"""That every path of the settings is absolute, so a config file means the same files whichever folder
the process starts in (:func:`absolute_paths`, called by :func:`pipeline.config.load_settings`).

Relative paths: one written in a config file (or left at its documented default while a file is read) is
taken relative to that file's folder; one from an environment override (``DHAG_PIPELINE_...``), or any
when no file is read, relative to the working directory, as a shell would take it. ``~`` is the user's
home. An absolute path is kept as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.configvalues import shown
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import Settings

__all__ = ["PATH_KEYS", "absolute_paths", "label_store_path"]

PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("model", "registry"),
    ("retrain", "label_store"),
    ("kafka", "security", "ssl_cafile"),
    ("kafka", "security", "ssl_certfile"),
    ("kafka", "security", "ssl_keyfile"),
)


def absolute_paths(settings: Settings, path: str | Path | None, overrides: Mapping[str, Any]) -> Settings:
    """``settings`` with each path of :data:`PATH_KEYS` made absolute: relative to the folder of the
    config file at ``path``, or to the working directory when ``overrides`` (the environment's nested
    settings) set it or no file was read.

    >>> from pipeline.config import Settings
    >>> absolute_paths(Settings(), "/etc/dhag/config.yaml", {}).model.registry
    '/etc/dhag/models/registry'
    >>> from_env = Settings.model_validate({"model": {"registry": "r"}})
    >>> absolute_paths(from_env, "/etc/dhag/config.yaml", {"model": {"registry": "r"}}).model.registry \\
    ...     == os.path.join(os.getcwd(), "r")
    True
    """
    folder = os.path.dirname(os.path.abspath(path)) if path is not None else None
    for key in PATH_KEYS:
        value = _get(settings, key)
        if not value:  # unset, or empty: left for the check that names it
            continue
        expanded = os.path.expanduser(value)
        if not os.path.isabs(expanded):
            from_file = folder is not None and _get(overrides, key) is None
            expanded = os.path.abspath(os.path.join(folder if from_file else _cwd(key, value), expanded))
        if expanded != value:
            settings = _replace(settings, key, expanded)
    return settings


def _cwd(key: tuple[str, ...], value: str) -> str:
    """The working directory, asked only for a path taken against it (it may have been removed)."""
    try:
        return os.getcwd()
    except OSError as exc:
        raise ConfigError(
            f"config error: {'.'.join(key)}: the relative path {shown(value)} is taken against the working "
            f"directory, which cannot be found ({exc.strerror}); give an absolute path"
        ) from None


def _get(node: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        node = node.get(part) if isinstance(node, Mapping) else getattr(node, part, None)
    return node


def _replace(model: Any, key: tuple[str, ...], value: str) -> Any:
    head, *rest = key
    inner = _replace(getattr(model, head), tuple(rest), value) if rest else value
    return model.model_copy(update={head: inner})


def label_store_path(settings: Settings) -> Path:
    """``retrain.label_store``, or ``<model.registry>/labels.sqlite`` when unset."""
    configured = settings.retrain.label_store
    return Path(configured) if configured else Path(settings.model.registry) / "labels.sqlite"
