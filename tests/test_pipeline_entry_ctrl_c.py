"""Ctrl-C while ``dhag-pipeline`` imports its modules, before start-up's handlers are armed (some 20 ms of
every command): one line and the exit status of a stop during start-up (130 for a console, 0 for a
service), as the installed script and ``python -m pipeline`` start it; before, a traceback of
``KeyboardInterrupt`` (exit 130, or 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Ctrl-C as the import of AT begins, then the command started as the installed script starts it (its
# import of the entry's module at the top, outside main) or as `python -m pipeline`.
STOPPED_IMPORTING = """
import os, runpy, signal, sys

class Stop:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "HOW": how, "AT": at, "SCRIPT": _script()}
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_IMPORTING, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (code, f"SIGINT during start-up: stopped before {said}\n")
