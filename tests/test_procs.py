"""stop_process: SIGTERM and a grace period, then SIGKILL for a child that ignores it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from pipeline.procs import stop_process


def test_a_child_that_stops_on_sigterm_ends_by_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(proc, 10)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()  # its handler is in place
    started = time.monotonic()
    stop_process(proc, 0.5)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_an_exited_child_is_left_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    stop_process(proc, 10)
    assert proc.returncode == 0
