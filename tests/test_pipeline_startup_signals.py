"""A stop asked for before a command has its own handlers (while it imports torch, reads its settings,
waits for Kafka): one clean line and the documented exit code, never a silent 143 or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_AFTER_START = """
import logging, os, signal, sys, time
from pipeline.startup import stoppable_at_startup

def start():
    if sys.argv[1] == "second":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    return 3

class _Again(logging.Handler):  # a second signal while the first's line is written
    def emit(self, record):
        sys.stderr.write(record.getMessage() + "\\n")
        os.kill(os.getpid(), signal.SIGINT)

logger = logging.getLogger("t")
logger.addHandler(_Again())
code = stoppable_at_startup(start, "streaming anything", logger)
os.kill(os.getpid(), signal.SIGTERM)  # the process on its way out, with its exit code
sys.exit(code)
"""


def _after_start(case: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _AFTER_START, case],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_signal_once_start_up_returned_leaves_the_exit_code_alone() -> None:
    # Before, the start-up handler stayed in place after start-up ended (simulate giving up on an
    # unreachable broker, exit 3): a SIGTERM then raised StartupInterrupted where nothing caught it,
    # a traceback and exit 1.
    out = _after_start("returned")
    assert (out.returncode, out.stderr) == (3, "")


def test_a_second_signal_during_a_start_up_stop_forces_the_exit_without_a_traceback() -> None:
    out = _after_start("second")
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "SIGTERM during start-up: stopped before streaming anything",
        "second signal (SIGINT): forcing exit",
    ]
