"""Ctrl-C (or SIGTERM) while ``dhag-pipeline`` imports its modules, before start-up's handlers are armed
(some 20 ms of every command), from the first import of the package's errors on: one line and the exit
status of a stop during start-up (130 or 143 for a console, 0 for a service), as the installed script
and ``python -m pipeline`` start it; before, a traceback of ``KeyboardInterrupt`` (exit 130, or 1), and
a SIGTERM killed it unsaid."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# SIG (SIGINT, Ctrl-C, unless named) as the import of AT begins, then the command started as the
# installed script starts it (its import of the entry's module at the top, outside main) or as
# `python -m pipeline`.
STOPPED_IMPORTING = """
import os, runpy, signal, sys

class Stop:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, os.environ.get("SIG", "SIGINT")))
        return None

sys.meta_path.insert(0, Stop())
sys.argv = ["dhag-pipeline", *sys.argv[1:]]
if os.environ["HOW"] == "script":
    module, _, name = os.environ["SCRIPT"].partition(":")
    sys.exit(getattr(__import__(module, fromlist=[name]), name)())
runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
"""


def _script() -> str:
    """The entry the installed ``dhag-pipeline`` script calls."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["scripts"]["dhag-pipeline"]


@pytest.mark.parametrize("how", ["script", "module"])
@pytest.mark.parametrize("at", ["pipeline.runservice", "logging"])
@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["alerts", "--bootstrap", "127.0.0.1:1"], 130, "doing anything"),
        (["label", "a1", "--anomaly", "--operator", "kim"], 130, "doing anything"),
        (["run"], 0, "consuming anything"),
    ],
)
def test_ctrl_c_while_the_command_imports_its_modules_is_one_line(
    how: str, at: str, argv: list[str], code: int, said: str
) -> None:
    done = _stopped(how, at, "SIGINT", argv)
    assert (done.returncode, done.stderr) == (code, f"SIGINT during start-up: stopped before {said}\n")


@pytest.mark.parametrize("how", ["script", "module"])
@pytest.mark.parametrize("at", ["pipeline.errors", "logging"])
@pytest.mark.parametrize(
    ("sig", "argv", "code", "said"),
    [
        ("SIGINT", ["alerts", "--bootstrap", "127.0.0.1:1"], 130, "doing anything"),
        ("SIGTERM", ["alerts", "--bootstrap", "127.0.0.1:1"], 143, "doing anything"),
        ("SIGTERM", ["run"], 0, "consuming anything"),
    ],
)
def test_a_stop_from_the_first_import_of_the_packages_errors_on_is_one_line(
    how: str, at: str, sig: str, argv: list[str], code: int, said: str
) -> None:
    # Before: the package imported pipeline.errors before the entry could catch a Ctrl-C (a traceback of
    # KeyboardInterrupt), and a SIGTERM before start-up's handlers killed the command unsaid.
    done = _stopped(how, at, sig, argv)
    assert (done.returncode, done.stderr) == (code, f"{sig} during start-up: stopped before {said}\n")


def test_the_entry_is_imported_alone_before_it_can_catch_a_stop() -> None:
    # All the script and `python -m pipeline` run before the entry's main: the package and the entry.
    imported = (
        "import sys, pipeline.entry; print(*sorted(m for m in sys.modules if m.startswith('pipeline')))"
    )
    done = subprocess.run([sys.executable, "-c", imported], capture_output=True, text=True, env=_env(),
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert done.stdout.split() == ["pipeline", "pipeline.entry"], done.stderr


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    return env | {"PYTHONPATH": str(ROOT), **more}


def _stopped(how: str, at: str, sig: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """The command ``argv``, started as ``how`` starts it, sent ``sig`` as the import of ``at`` begins."""
    env = _env(HOW=how, AT=at, SIG=sig, SCRIPT=_script())
    return subprocess.run(
        [sys.executable, "-c", STOPPED_IMPORTING, *argv], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=120,
    )  # fmt: skip
