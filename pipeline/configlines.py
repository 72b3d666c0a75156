"""Where in the config file a refusal points: the line that wrote a refused setting, for the error
that names it (one an environment variable set names the variable instead, :func:`~pipeline.
configsource.env_source`); the line and column where YAML or UTF-8 refused the file, and what it is."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.configfiles import config_bytes
from pipeline.errors import ConfigError
from pipeline.safeyaml import key_lines

__all__ = ["file_lines", "not_utf8", "written_at", "yaml_fault"]

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
        return key_lines(config_bytes(path).decode("utf-8"))
    except (ConfigError, UnicodeError, yaml.YAMLError):
        return {}


def written_at(key: Sequence[Any], path: str | Path | None, lines: Mapping[tuple[str, ...], int]) -> str:
    """`` (line N of 'FILE')`` for ``key`` (an error's location; past the value, it may name a type) as
    the file at ``path`` wrote it, or the nearest section above it there; empty when the file did not
    (for a key an environment variable set, the caller names the variable instead).

    >>> written_at(("kafka", "batch_size"), "c.yaml", {("kafka",): 1, ("kafka", "batch_size"): 2})
    " (line 2 of 'c.yaml')"
    """
    parts = tuple(str(part) for part in key)
    if path is None:
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


def yaml_fault(exc: yaml.YAMLError, text: str) -> str:
    """Where and what PyYAML found wrong: line and column, and where the construct it was reading began
    (a quote left open is found only at the end of the file); of a character YAML does not take at all
    (its reader says only where in ``text``), which one."""
    if isinstance(exc, yaml.reader.ReaderError):
        start = text.rfind("\n", 0, exc.position) + 1
        line, column = text.count("\n", 0, exc.position) + 1, exc.position - start + 1
        kind = " (a control character)" if unicodedata.category(chr(exc.character)) == "Cc" else ""
        where = f" at line {line}, column {column}"
        return f"{where}: character U+{exc.character:04X}{kind} is not allowed in YAML: remove it"
    where, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    context, began = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and problem and not context.startswith("while "):  # "expected ..., but found ..."
        problem, context = f"{context}, {problem}", None
    lines = text.splitlines()
    line = lines[where.line] if where is not None and where.line < len(lines) else ""
    text = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
    text += f": {problem}" if problem else ""
    if problem and "'\\t'" in problem:  # the tabs YAML takes as white space were (pipeline.safeyaml)
        indented = where is None or not line[: where.column].strip()
        text += (
            " (YAML indents with spaces, never tabs)"
            if indented
            else " (a tab between words of an unquoted value: quote the value)"
        )
    if re.match(r"[^#'\"]*:\s+\[[^\]]*:", line):  # [::1]:9092 unquoted: to YAML a list, cut short
        text += " (a value that starts with '[' is a YAML list: quote it for text, as '[::1]:9092')"
    if context and began is not None and (where is None or began.line != where.line):
        text += f", {context} that starts at line {began.line + 1}, column {began.column + 1}"
    return text
