"""The exit codes of the daemon (``dhag-pipeline run``) and the retrainer (``dhag-pipeline retrain``) as
the code returns them, against the table in docs/service-reference.md and the runbooks that read them."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from docs_support import REPO

PIPELINE = REPO / "pipeline"
# The functions of pipeline/cli.py on each service's path (the others serve demo, bench, models...).
_CLI_DAEMON = {"main", "stoppable_at_startup"}
_CLI_RETRAINER = {"main", "stoppable_at_startup"}


@functools.cache
def _constants() -> dict[str, int]:
    """Every module-level ``EXIT_* = N`` of the pipeline package (one value per name)."""
    found: dict[str, int] = {}
    for path in sorted(PIPELINE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.Tuple):
                names = [t for t in node.targets if isinstance(t, ast.Name | ast.Tuple)]
                for target in names:
                    pairs = (
                        zip(target.elts, node.value.elts, strict=True)
                        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                        else [(target, node.value)]
                    )
                    for name, value in pairs:
                        if isinstance(name, ast.Name) and name.id.startswith("EXIT_"):
                            assert isinstance(value, ast.Constant), name.id
                            assert found.setdefault(name.id, value.value) == value.value, f"{name.id} differs"
    return found


def exit_codes(path: Path, functions: set[str] | None = None) -> set[int]:
    """The codes the functions of ``path`` (those named, or all) return as an exit code: an ``EXIT_*``
    constant, and in a function documented to return the exit code, a number (or a call's first
    argument: ``self._closing(1, why)``); and ``os._exit``'s."""
    constants, codes = _constants(), set()

    def value(node: ast.expr) -> int | None:
        if isinstance(node, ast.Name) and node.id.startswith("EXIT_"):
            return constants[node.id]
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        return None

    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if functions is not None and func.name not in functions:
            continue
        documented = "exit code" in (ast.get_docstring(func) or "")
        for node in ast.walk(func):
            if isinstance(node, ast.Return) and node.value is not None:
                returned = node.value
                code = value(returned)
                if code is None and documented and isinstance(returned, ast.Call) and returned.args:
                    code = value(returned.args[0])
                if code is not None and (documented or isinstance(returned, ast.Name)):
                    codes.add(code)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "os._exit" and node.args:
                codes.add(constants[node.args[0].id] if isinstance(node.args[0], ast.Name) else -1)
    return codes


def daemon_exit_codes() -> set[int]:
    files = [PIPELINE / "runservice.py", PIPELINE / "daemon.py", PIPELINE / "signals.py"]
    return exit_codes(PIPELINE / "cli.py", _CLI_DAEMON).union(*map(exit_codes, files))


def retrainer_exit_codes() -> set[int]:
    files = [*sorted((PIPELINE / "retrain").glob("*.py")), PIPELINE / "signals.py"]
    return exit_codes(PIPELINE / "cli.py", _CLI_RETRAINER).union(*map(exit_codes, files))


def _documented_table() -> dict[int, tuple[str, str]]:
    """Code -> (what it means from ``run``, from ``retrain``) in the service reference's *Exit codes*."""
    text = (REPO / "docs" / "service-reference.md").read_text()
    section = text[text.index("\n## Exit codes\n") :]
    end = section.find("\n#", 1)  # the next heading, or the page's end
    section = section if end < 0 else section[:end]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows[int(cells[0])] = (cells[1], cells[2])
    return rows


def test_the_scan_finds_the_codes_the_services_exit_with() -> None:
    # Each way of returning a code is seen: a constant (EXIT_STORE), a number in a documented function
    # (stoppable_at_startup's 0), a call's first argument (--once's 1), os._exit (the forced stop).
    assert {0, 1, 2, 3, 4} <= daemon_exit_codes()
    assert {0, 1, 2, 3, 4, 5, 6} <= retrainer_exit_codes()
    assert exit_codes(PIPELINE / "signals.py") == {1}
    assert 1 in exit_codes(PIPELINE / "retrain" / "runs.py")


def test_the_documented_table_gives_every_exit_code_of_the_daemon_and_the_retrainer() -> None:
    table = _documented_table()
    daemon = {code for code, (run, _) in table.items() if run not in {"", "-", "—"}}
    retrainer = {code for code, (_, retrain) in table.items() if retrain not in {"", "-", "—"}}
    assert daemon == daemon_exit_codes()
    assert retrainer == retrainer_exit_codes()


def _says_why(runbook: str) -> str:
    text = (REPO / "docs" / "runbooks" / runbook).read_text()
    start = text.index("The exit code says why it stopped:")
    return text[start : text.index("\n- ", start)]


def test_the_runbooks_of_a_stopped_service_name_each_of_its_codes() -> None:
    for runbook, codes in (
        ("DhagDaemonDown.md", daemon_exit_codes()),
        ("DhagRetrainerDown.md", retrainer_exit_codes()),
    ):
        says = _says_why(runbook)
        assert [c for c in sorted(codes - {0}) if not re.search(rf"(?<![\w.]){c}(?![\w.])", says)] == [], (
            runbook
        )
