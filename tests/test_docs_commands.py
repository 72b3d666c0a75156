"""Every command line the documents, config.yaml's comments, the commands' own help and the alerts'
annotations show parses with the commands' argument parsers as they are; every `make` target they name
exists.

Nothing is run: each line is given to ``parse_args`` of the parser the command builds. A synopsis is
expanded first: ``[--opt X]`` is tried left out and put in, ``a|b`` (``a | b``) tries each alternative
(``show V|promote V``: an alternative takes the placeholders after it), ``FILE...`` is ``FILE``, and an
upper-case placeholder stands for any value of an option's type, and ``COMMAND`` for each subcommand.
A fenced block's line is a whole command; an inline span, or a line with ``...`` standing for the rest,
may name a command and some of its options without the arguments it requires. An alert's annotation
gives whole commands, to be run as they read, with its labels (``{{ $labels.asset }}``) as placeholders.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from docs_support import REPO, Snippet, all_snippets

from dhag.cli import build_parser as dhag_parser
from pipeline.cli import _parser as pipeline_parser

_COMMAND = r"(?:\S*/)?(?P<prog>dhag-pipeline|dhag|python3? -m (?:dhag|pipeline))(?=\s|$)"
# What may stand before the command in a shell line: a prompt, variables, exec.
_LEAD = re.compile(rf"^(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:exec\s+)?{_COMMAND}(?P<args>.*)$")
_SEPARATOR = re.compile(r"\s*(?:&&|\|\||;)\s*")
_COMMENT = re.compile(r"\s#(?:\s|$).*$")
_REDIRECT = re.compile(r"\s(?:[12]?>|<|\|\s*(?:head|tail|jq|grep|less|tee|sort|wc)\b).*$")
_PLACEHOLDER = r"[A-Z][A-Z0-9_:]*"
# An alternation: a word with the placeholders it takes, then "|" and more of them.
_ITEM = rf"[^\s|\[\]]+(?:\s+{_PLACEHOLDER}(?![^\s|\[\]]))*"
_CHAIN = re.compile(rf"{_ITEM}(?:\s*\|\s*{_ITEM})+")
_IS_PLACEHOLDER = re.compile(rf"^{_PLACEHOLDER}$|^<[^>]+>$")


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        yield err


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _lenient_type(kind: Callable[[str], Any] | None) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        if _IS_PLACEHOLDER.match(value):
            return value
        return value if kind is None else kind(value)

    return convert


def _strict(build: Callable[[], argparse.ArgumentParser], *, partial: bool) -> argparse.ArgumentParser:
    """The command's parser, refusing abbreviated options (a doc must spell an option out: a new option
    could make the abbreviation ambiguous), taking a placeholder for any typed value and, for a
    ``partial`` command, not insisting on required options and subcommands."""
    root = build()
    for parser in _parsers(root):
        parser.allow_abbrev = False
        for action in parser._actions:
            if action.type is not None or (action.option_strings and action.nargs != 0):
                action.type = _lenient_type(action.type)
            if partial and not isinstance(action, argparse._SubParsersAction) and not action.option_strings:
                action.nargs = {None: "?", "+": "*"}.get(action.nargs, action.nargs)  # type: ignore[arg-type]
            if partial:
                action.required = False
        if partial:
            for group in parser._mutually_exclusive_groups:
                group.required = False
    return root


_PROGRAMS = {"dhag": dhag_parser, "python -m dhag": dhag_parser, "dhag-pipeline": pipeline_parser}
_PROGRAMS["python -m pipeline"] = pipeline_parser


def commands(snippet: Snippet) -> Iterator[tuple[str, str]]:
    """``(program, argument string)`` of each command line in ``snippet`` (with at least one argument)."""
    text = _COMMENT.sub("", snippet.text) if snippet.block else snippet.text
    for segment in _SEPARATOR.split(text.strip()):
        segment = segment.strip()
        candidates = [segment]
        if " -- " in segment:  # kubectl exec POD -- dhag-pipeline ...
            candidates.append(segment.rsplit(" -- ", 1)[1])
        for candidate in candidates:
            match = _LEAD.match(candidate)
            if match and match.group("args").strip():
                prog = re.sub(r"^python3", "python", match.group("prog"))
                yield prog, _REDIRECT.sub("", match.group("args")).strip()
                break


def _drop_optional(text: str) -> str:
    while (stripped := re.sub(r"\[[^\[\]]*\]", " ", text)) != text:
        text = stripped
    return text


def variants(synopsis: str) -> list[list[str]]:
    """The argument lists a synopsis stands for (see the module docstring)."""
    synopsis = re.sub(r"(\S)\.\.\.(?=\s|$|\])", r"\1", synopsis)
    found: list[list[str]] = []
    for text in dict.fromkeys([_drop_optional(synopsis), synopsis.replace("[", " ").replace("]", " ")]):
        chains = [(m.span(), re.split(r"\s*\|\s*", m.group())) for m in _CHAIN.finditer(text)]
        for choice in itertools.product(*(alternatives for _, alternatives in chains)):
            pieces, at = [], 0
            for ((start, end), _), alternative in zip(chains, choice, strict=True):
                pieces += [text[at:start], alternative]
                at = end
            argv = "".join([*pieces, text[at:]]).split()
            if argv not in found:
                found.append(argv)
    return found


def parse_problem(prog: str, argv: list[str], *, partial: bool) -> str | None:
    """Why the command ``prog`` refuses ``argv`` (None when it parses)."""
    parser = _strict(_PROGRAMS[prog], partial=partial)
    with _quiet() as err:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            if exc.code:
                return err.getvalue().strip().splitlines()[-1]
    return None


def _help_snippets() -> list[Snippet]:
    """The spans in the commands' descriptions and help texts."""
    found = []
    for build in (dhag_parser, pipeline_parser):
        for parser in _parsers(build()):
            texts = [parser.description or "", parser.epilog or ""]
            for action in parser._actions:
                texts.append(action.help or "")
                if isinstance(action, argparse._SubParsersAction):
                    texts += [choice.help or "" for choice in action._choices_actions]
            for text in texts:
                for span in re.findall(r"`([^`]+)`", text):
                    found.append(Snippet(f"{parser.prog} --help", span, block=False))
    return found


def _makefile_snippets() -> list[Snippet]:
    """The Makefile's recipe lines (``make bench`` runs its commands only hours later)."""
    lines = (REPO / "Makefile").read_text().splitlines()
    return [
        Snippet(f"Makefile:{n}", line, block=True) for n, line in enumerate(lines, 1) if line.startswith("\t")
    ]


def _alert_snippets() -> list[Snippet]:
    """The spans of the alerts' annotations (deploy/prometheus/rules), each a whole command: what the page
    tells whoever is paged to run. A label's value (``{{ $labels.asset }}``) is a placeholder (ASSET)."""
    found = []
    for path in sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for name, text in rule.get("annotations", {}).items():
                    for span in re.findall(r"`([^`]+)`", text):
                        command = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: m.group(1).upper(), span)
                        where = f"{path.relative_to(REPO)}:{rule['alert']}.{name}"
                        found.append(Snippet(where, command, block=True))
    return found


def _documented() -> list[tuple[Snippet, str, str]]:
    snippets = [*all_snippets(), *_help_snippets(), *_makefile_snippets(), *_alert_snippets()]
    return [(s, prog, args) for s in snippets for prog, args in commands(s)]


DOCUMENTED = _documented()


def test_the_extraction_finds_the_documented_commands() -> None:
    # A checker that finds nothing proves nothing: the reference pages' synopses, a runbook's kubectl line,
    # a benchmark's line with a variable before it, config.yaml's and the help's own.
    found = {(s.where.split(":")[0], prog, args) for s, prog, args in DOCUMENTED}
    assert ("docs/service.md", "dhag-pipeline", "models list|show V|promote V|rollback|prune") in found
    assert ("docs/service-operations.md", "dhag-pipeline", "models prune --dry-run") in found
    assert ("docs/service-reference.md", "dhag-pipeline", "bench") in found
    assert ("docs/library.md", "dhag", "train --data FILE --out MODEL [--label-column C]") in found
    assert ("config.yaml", "dhag-pipeline", "models train HISTORY") in found
    wheres = {where for where, _, _ in found}
    assert {"docs/benchmarks.md", "docs/plant-bench.md", "docs/runbooks/DhagModelReloadFailing.md"} <= wheres
    assert any(where.endswith("--help") for where in wheres)
    assert ("Makefile", "dhag-pipeline", "bench soak --minutes 30 --json docs/bench/soak.json") in found
    rules = "deploy/prometheus/rules/dhag-alerts.yml"
    assert (rules, "dhag-pipeline", "alerts --asset ASSET --open") in found
    assert any("--dhag-members 5" in args for _, prog, args in found if prog == "dhag")
    assert len(DOCUMENTED) > 150


@pytest.mark.parametrize(
    ("synopsis", "expected"),
    [
        ("run [--config FILE]", [["run"], ["run", "--config", "FILE"]]),
        (
            "models list|show V|rollback",
            [["models", "list"], ["models", "show", "V"], ["models", "rollback"]],
        ),
        ("retrain --watch | --once", [["retrain", "--watch"], ["retrain", "--once"]]),
        (
            "label A --anomaly|--normal --operator N",
            [["label", "A", "--anomaly", "--operator", "N"], ["label", "A", "--normal", "--operator", "N"]],
        ),
        ("sign MODEL... [--out P]", [["sign", "MODEL"], ["sign", "MODEL", "--out", "P"]]),
    ],
)
def test_a_synopsis_stands_for_the_command_lines_it_shows(synopsis: str, expected: list[list[str]]) -> None:
    assert variants(synopsis) == expected


def test_the_check_refuses_what_the_commands_refuse() -> None:
    assert parse_problem("dhag-pipeline", ["models", "list", "--nope"], partial=True)
    assert parse_problem("dhag", ["train", "--member", "5"], partial=True)  # abbreviated
    assert parse_problem("dhag-pipeline", ["alerts", "--limit", "many"], partial=False)  # not a placeholder
    assert parse_problem("dhag", ["train", "--members", "5"], partial=False)  # --data, --out missing
    assert parse_problem("dhag", ["train", "--members", "5"], partial=True) is None
    assert parse_problem("dhag-pipeline", ["bench", "--records", "N"], partial=False) is None


@pytest.mark.parametrize(
    ("snippet", "prog", "args"), DOCUMENTED, ids=[f"{s.where}:{a[:40]}" for s, _, a in DOCUMENTED]
)
def test_every_documented_command_line_parses(snippet: Snippet, prog: str, args: str) -> None:
    partial = not snippet.block or "..." in args.split()
    subcommands = _subcommands(prog)
    problems = [
        f"{' '.join(argv)}: {problem}"
        for shown in variants(args)
        for argv in _with_commands([a for a in shown if a != "..."], subcommands)
        if (problem := parse_problem(prog, argv, partial=partial)) is not None
    ]
    assert not problems, f"{snippet.where}: `{prog} {args}`: {problems}"


def _subcommands(prog: str) -> list[str]:
    (action,) = [a for a in _PROGRAMS[prog]()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def _with_commands(argv: list[str], subcommands: list[str]) -> list[list[str]]:
    """``argv`` with ``COMMAND`` (a placeholder for the subcommand) as each of them."""
    if "COMMAND" not in argv:
        return [argv]
    return [[command if a == "COMMAND" else a for a in argv] for command in subcommands]


_MAKE = re.compile(r"(?:^|\s|`)make\s+([a-z][a-z0-9_-]*)")


def test_every_make_target_the_documents_name_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9_-]*):", makefile, flags=re.MULTILINE))
    named = {
        (snippet.where, target)
        for snippet in all_snippets()
        for target in _MAKE.findall(snippet.text)
        if snippet.text.lstrip().startswith("make") or snippet.block
    }
    assert {target for _, target in named} >= {"run", "test", "bench"}
    assert [(where, target) for where, target in sorted(named) if target not in targets] == []
