"""Ctrl-C during a console's start-up stops it with one line and exit 130 wherever it lands, also inside
a C extension's import of ``datetime`` (pydantic-core's, as the settings load): before, pyo3 panicked
there, printing a Rust backtrace and a traceback, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.broker import free_port

ROOT = Path(__file__).resolve().parents[1]
# Ctrl-C once start-up's handlers are armed: at the import of datetime when start-up imports it, else at
# the first import start-up makes (each is where an operator's Ctrl-C may land).
RUN = """
import os, signal, sys
from pipeline import startup
from pipeline.cli import main

class Stop:
    fired = False
    def find_spec(self, name, path=None, target=None):
        handler = signal.getsignal(signal.SIGINT)
        armed = isinstance(getattr(handler, "__self__", None), startup.StartupSignals)
        if armed and not Stop.fired and (name == "datetime" or "datetime" in sys.modules):
            Stop.fired = True
            sys.stderr.write(f"Ctrl-C at the import of {name}\\n")
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Stop())
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["alerts"], ["label", "a-1", "--anomaly", "--operator", "kim"]])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "RUST_BACKTRACE": "0"}
    done = subprocess.run(
        [sys.executable, "-c", RUN, *command, "--bootstrap", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    where, *said = done.stderr.splitlines()
    assert where.startswith("Ctrl-C at the import of "), done.stderr
    assert (done.returncode, said) == (130, ["SIGINT during start-up: stopped before doing anything"]), (
        done.stderr
    )
