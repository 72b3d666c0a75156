"""Every relative link in the documents (README.md, docs/, deploy/) reaches a file or folder that is there,
and every ``#anchor`` one of the headings of the page it names, as GitHub makes anchors of headings.

Links inside code (fenced blocks, inline spans) are no links and are not followed; web addresses are not
fetched.
"""

from __future__ import annotations

import re
from pathlib import Path

from docs_support import REPO, doc_files

_FENCE = re.compile(r"^\s*(```|~~~)")
_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose(text: str) -> list[str]:
    """The lines of ``text`` outside fenced blocks, fences themselves blanked."""
    lines, fence = [], None
    for line in text.splitlines():
        marker = _FENCE.match(line)
        if fence is None and marker:
            fence = marker.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of the headings of the markdown file ``path`` (a repeated one gets -1, -2, ...)."""
    found: dict[str, int] = {}
    names = set()
    for line in _prose(path.read_text()):
        match = _HEADING.match(line)
        if not match:
            continue
        name = slug(match.group(2))
        count = found.get(name, 0)
        found[name] = count + 1
        names.add(name if count == 0 else f"{name}-{count}")
    return names


def links(path: Path) -> list[tuple[int, str]]:
    """``(line, target)`` of each link in the prose of ``path`` (a paragraph's link may span lines)."""
    lines = _prose(path.read_text())
    text = _SPAN.sub(lambda m: "`" + "x" * (len(m.group()) - 2) + "`", "\n".join(lines))
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _LINK.finditer(text)]


def problems(files: list[Path], root: Path = REPO) -> list[str]:
    """What is wrong with the relative links of ``files``: ``path:line: target: why``."""
    found = []
    for path in files:
        for line, target in links(path):
            if not target or _SCHEME.match(target):
                continue
            name, _, anchor = target.partition("#")
            goal = (path.parent / name).resolve() if name else path
            where = f"{path.relative_to(root)}:{line}: {target}"
            if not goal.exists():
                found.append(f"{where}: no such file")
            elif anchor and goal.suffix != ".md":
                found.append(f"{where}: an anchor into a file that is no markdown page")
            elif anchor and anchor not in anchors(goal):
                found.append(f"{where}: no heading of {goal.name} has that anchor")
    return found


def test_every_relative_link_and_anchor_in_the_documents_resolves() -> None:
    assert problems(doc_files()) == []


def test_the_check_reads_the_documents_links() -> None:
    # A check that finds no link proves nothing: the README's table of pages, the runbooks' links to one
    # another, the service pages' anchors into each other.
    found = {(path.relative_to(REPO).as_posix(), target) for path in doc_files() for _, target in links(path)}
    assert ("README.md", "docs/service.md") in found
    assert ("docs/service.md", "service-operations.md#rolling-back") in found
    assert ("docs/runbooks/DhagRetrainerAccessRefused.md", "DhagKafkaAccessRefused.md#act") in found
    assert sum("#" in target for _, target in found) > 20
    assert len(found) > 100


def test_a_link_to_a_missing_page_or_heading_is_named(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Exit codes\n\n## The history file (`models train HISTORY`)\n\n## Exit codes\n\n"
        "See [c](#exit-codes), [again](#exit-codes-1), [h](#the-history-file-models-train-history)\n"
        "and [the other](sub/other.md#its-part), [a folder](sub/), [a web page](https://example.com/x.md#y).\n"
        "[gone](missing.md) and [no such part](sub/other.md#nothing) and [here neither](#nowhere),\n"
        "[a part of a\nnon-page](sub/data.json#x); `[in code](missing.md)` is no link.\n\n"
        "```\n[in a block](missing.md)\n```\n"
    )
    (tmp_path / "sub" / "other.md").write_text("# Other\n\n### Its part\n")
    (tmp_path / "sub" / "data.json").write_text("{}")
    assert problems([page], root=tmp_path) == [
        "page.md:11: missing.md: no such file",
        "page.md:11: sub/other.md#nothing: no heading of other.md has that anchor",
        "page.md:11: #nowhere: no heading of page.md has that anchor",
        "page.md:12: sub/data.json#x: an anchor into a file that is no markdown page",
    ]


def test_headings_anchor_as_github_anchors_them() -> None:
    assert slug("The history file (`models train HISTORY`)") == "the-history-file-models-train-history"
    assert slug("Who made a version current: `promoted.json`") == "who-made-a-version-current-promotedjson"
    assert slug("Stopping: SIGTERM and SIGINT") == "stopping-sigterm-and-sigint"
    assert slug("The registry's lock") == "the-registrys-lock"
    assert slug("Lag and the caught-up time") == "lag-and-the-caught-up-time"
