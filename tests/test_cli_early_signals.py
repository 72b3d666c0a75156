"""Ctrl-C, SIGTERM (``timeout``, ``kill``) or SIGHUP (a closed terminal) in the seconds ``dhag`` spends
importing torch and pandas, before any command runs: one line and exit status 128 + the signal's
number, as the same signal at any later moment gives, not a Python traceback (Ctrl-C) or a process
killed without a word."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import dhag

# The signal sent to itself as torch begins to be imported, then the command started as the installed
# `dhag` script starts it (its import of dhag.cli at the top, outside main) or as `python -m dhag`.
_STOPPED_IMPORTING_TORCH = """
import importlib.abc, os, sys

class Stop(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), int(os.environ["SIGNAL"]))
        return None

sys.meta_path.insert(0, Stop())
sys.argv = ["dhag", *sys.argv[1:]]
if os.environ["HOW"] == "script":
    from dhag.cli import main
    sys.exit(main())
import runpy
runpy.run_module("dhag", run_name="__main__", alter_sys=True)
"""


def _run(how: str, argv: list[str], signum: int) -> subprocess.CompletedProcess:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1]), "HOW": how, "SIGNAL": str(signum)}
    return subprocess.run(
        [sys.executable, "-c", _STOPPED_IMPORTING_TORCH, *argv],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("how", ["script", "module"])
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["info", "m.dhag"], "dhag info: stopped by SIGTERM"),
        (["-v", "train", "--data", "rows.csv", "--out", "m.dhag"], "dhag train: stopped by SIGTERM"),
        (["--help"], "dhag: stopped by SIGTERM"),
    ],
)
def test_sigterm_while_importing_torch_is_one_line_and_exit_143(how: str, argv: list[str], said: str) -> None:
    done = _run(how, argv, signal.SIGTERM)
    # Before: the process killed by SIGTERM where it stood (-15 to its parent), saying nothing.
    assert done.returncode == 143, (done.returncode, done.stderr)
    assert done.stderr.splitlines() == [said]
    assert done.stdout == ""


def test_sighup_while_importing_torch_is_one_line_and_exit_129() -> None:
    done = _run("script", ["score", "--model", "m.dhag", "--data", "rows.csv"], signal.SIGHUP)
    assert done.returncode == 129, (done.returncode, done.stderr)
    assert done.stderr.splitlines() == ["dhag score: stopped by SIGHUP"]


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
    done = _run(how, argv, signal.SIGINT)
    # Before: a traceback through the imports ending in KeyboardInterrupt, and the process killed by SIGINT.
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [said]
    assert done.stdout == ""
