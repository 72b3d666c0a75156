"""Helpers of the documentation tests: the files that tell a user what to type, and the code in them.

A markdown file's code is its fenced blocks (line by line) and its inline spans (one span may run over
a line break, as a paragraph wraps it); config.yaml's is the spans of its comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^(```|~~~)")
_SPAN = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Snippet:
    """A piece of code in a document: ``where`` is ``path:line`` of its start."""

    where: str
    text: str
    block: bool  # a line of a fenced block (else an inline span)
    lang: str = ""  # the fenced block's language (```python)


def doc_files() -> list[Path]:
    """Every document a user reads: README.md, docs/*.md, docs/runbooks/*.md and deploy/**/*.md."""
    files = [
        REPO / "README.md",
        *sorted((REPO / "docs").rglob("*.md")),
        *sorted((REPO / "deploy").rglob("*.md")),
    ]
    return [f for f in files if f.is_file()]


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


def markdown_snippets(path: Path) -> Iterator[Snippet]:
    """The fenced blocks' lines and the inline spans of the markdown file ``path``."""
    lines = path.read_text().splitlines()
    prose: list[tuple[int, str]] = []
    fence, lang = None, ""
    for number, line in enumerate(lines, 1):
        marker = _FENCE.match(line.strip())
        if fence is None and marker:
            fence, lang = marker.group(1), line.strip()[3:].strip()
            prose.append((number, ""))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
            prose.append((number, ""))
        elif fence is not None:
            yield Snippet(_where(path, number), line, block=True, lang=lang)
        else:
            prose.append((number, line))
    yield from _spans(path, prose)


def _spans(path: Path, prose: list[tuple[int, str]]) -> Iterator[Snippet]:
    """Inline spans of the prose lines, paragraph by paragraph (a span never crosses a blank line)."""
    paragraph: list[tuple[int, str]] = []
    for number, line in [*prose, (0, "")]:
        if line.strip():
            paragraph.append((number, line))
            continue
        if paragraph:
            text = "\n".join(line for _, line in paragraph)
            for match in _SPAN.finditer(text):
                first = paragraph[text.count("\n", 0, match.start())][0]
                yield Snippet(_where(path, first), " ".join(match.group(1).split()), block=False)
        paragraph = []


def config_yaml_snippets(path: Path = REPO / "config.yaml") -> Iterator[Snippet]:
    """The inline spans in the comments of config.yaml."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if "#" in line:
            for match in _SPAN.finditer(line.split("#", 1)[1]):
                yield Snippet(_where(path, number), match.group(1), block=False)


def all_snippets() -> list[Snippet]:
    """The code of every document and of config.yaml's comments."""
    found = [s for f in doc_files() for s in markdown_snippets(f)]
    return found + list(config_yaml_snippets())
