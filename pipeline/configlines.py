"""Where a refused setting was written: the line of the config file that set it, for the error that
names it (one an environment variable set names the variable instead, :func:`~pipeline.configsource.
env_source`)."""

from __future__ import annotations

import codecs
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.configsource import env_source
from pipeline.safeyaml import key_lines

__all__ = ["file_lines", "not_utf8", "written_at"]

# UTF-32's little-endian mark starts as UTF-16's does: it is looked for first.
_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


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


def not_utf8(data: bytes, exc: UnicodeDecodeError) -> str:
    """What a config file whose bytes ``data`` UTF-8 refused (``exc``) is: UTF-16 or UTF-32 when it
    starts with their byte-order mark (an editor's "Unicode"), else where the first byte UTF-8 does not
    take stands, by line and column.

    >>> not_utf8(b"a: 1\\nb: caf\\xe9\\n", UnicodeDecodeError("utf-8", b"", 11, 12, "invalid"))
    'is not UTF-8 text: line 2, column 7 holds byte 0xe9 (Latin-1 or Windows-1252 text?): save it as UTF-8'
    """
    for mark, name in _MARKS:
        if data.startswith(mark):
            return f"is not UTF-8 text but {name} (it starts with {name}'s byte-order mark): save it as UTF-8"
    start = data.rfind(b"\n", 0, exc.start) + 1
    line, column = (
        data.count(b"\n", 0, exc.start) + 1,
        len(data[start : exc.start].decode(errors="replace")) + 1,
    )
    where = f"line {line}, column {column} holds byte 0x{data[exc.start]:02x}"
    return f"is not UTF-8 text: {where} (Latin-1 or Windows-1252 text?): save it as UTF-8"
