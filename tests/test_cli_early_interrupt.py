"""Ctrl-C in the seconds ``dhag`` spends importing torch and pandas, before any command runs: one line
and exit status 130, as Ctrl-C at any later moment gives, not a Python traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dhag

# SIGINT sent to itself as torch begins to be imported, then the command started as the installed
# `dhag` script starts it (its import of dhag.cli at the top, outside main) or as `python -m dhag`.
_INTERRUPTED_IMPORTING_TORCH = """
import importlib.abc, os, signal, sys

class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupt())
sys.argv = ["dhag", *sys.argv[1:]]
if os.environ["HOW"] == "script":
    from dhag.cli import main
    sys.exit(main())
import runpy
runpy.run_module("dhag", run_name="__main__", alter_sys=True)
"""


def _run(how: str, argv: list[str]) -> subprocess.CompletedProcess:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1]), "HOW": how}
    return subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORTING_TORCH, *argv],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("how", ["script", "module"])
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["info", "m.dhag"], "dhag info: interrupted"),
        (["-v", "train", "--data", "rows.csv", "--out", "m.dhag"], "dhag train: interrupted"),
        (["--help"], "dhag: interrupted"),
    ],
)
def test_ctrl_c_while_importing_torch_is_one_line_and_exit_130(how: str, argv: list[str], said: str) -> None:
    done = _run(how, argv)
    # Before: a traceback through the imports ending in KeyboardInterrupt, and the process killed by SIGINT.
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [said]
    assert done.stdout == ""
