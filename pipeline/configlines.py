"""Where a refused setting was written: the line of the config file that set it, for the error that
names it (one an environment variable set names the variable instead, :func:`~pipeline.configsource.
env_source`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.configsource import env_source
from pipeline.safeyaml import key_lines

__all__ = ["file_lines", "written_at"]


def file_lines(path: str | Path | None) -> dict[tuple[str, ...], int]:
    """The line of each key of the config file at ``path`` (read before: it is YAML); none when there is
    no file, or it cannot be read again."""
    if path is None:
        return {}
    try:
        return key_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError):
        return {}


def written_at(
    key: Sequence[Any],
    path: str | Path | None,
    lines: Mapping[tuple[str, ...], int],
    environ: Mapping[str, str],
) -> str:
    """`` (line N of 'FILE')`` for ``key`` (an error's location; past the value, it may name a type) as
    the file at ``path`` wrote it, or the nearest section above it there; empty when an environment
    variable set it or the file did not.

    >>> written_at(("kafka", "batch_size"), "c.yaml", {("kafka",): 1, ("kafka", "batch_size"): 2}, {})
    " (line 2 of 'c.yaml')"
    >>> written_at(("kafka", "batch_size"), "c.yaml", {("kafka",): 1}, {"DHAG_PIPELINE_KAFKA": "{}"})
    ''
    """
    parts = tuple(str(part) for part in key)
    if path is None or env_source(environ, parts):
        return ""
    for end in range(len(parts), 0, -1):
        if (line := lines.get(parts[:end])) is not None:
            return f" (line {line} of {str(path)!r})"
    return ""
