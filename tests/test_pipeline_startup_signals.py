"""A stop asked for before a command has its own handlers (while it imports torch, reads its settings,
waits for Kafka): one clean line and the documented exit code, never a silent 143 or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The signal arrives while the command first imports MODULE (a start-up seconds long on a busy host).
_SIGNAL_ON_IMPORT = """
import os, signal, sys

class _SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, sys.argv[2]))
        return None

sys.meta_path.insert(0, _SignalOnImport())
from pipeline.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _command(module: str, signum: str, argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env |= {"PYTHONPATH": str(ROOT), "DHAG_PIPELINE_MODEL__REGISTRY": str(tmp_path / "registry")}
    (tmp_path / "registry").mkdir(exist_ok=True)  # a registry folder not there stops run before torch
    return subprocess.run(
        [sys.executable, "-c", _SIGNAL_ON_IMPORT, module, signum, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "before"),
    [(["run"], "consuming anything"), (["retrain"], "reading any label")],
    ids=["run", "retrain"],
)
def test_a_service_stopped_while_it_imports_torch_stops_cleanly(
    argv: list[str], before: str, tmp_path: Path
) -> None:
    # Before, the signal met Python's default handler: exit 143, not a word.
    out = _command("torch", "SIGTERM", argv, tmp_path)
    assert (out.returncode, out.stdout) == (0, ""), out.stderr
    assert f"SIGTERM during start-up: stopped before {before}" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_stop_while_the_settings_are_read_stops_a_service_cleanly(tmp_path: Path) -> None:
    out = _command("pydantic", "SIGINT", ["retrain", "--once"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines() == ["SIGINT during start-up: stopped before reading any label"]


@pytest.mark.parametrize(("signum", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_one_shot_command_stopped_during_start_up_says_so_and_exits_as_interrupted(
    signum: str, code: int, tmp_path: Path
) -> None:
    # check-config did nothing: it must not exit 0 (`check-config && exec ...` would go on).
    out = _command("pydantic", signum, ["check-config"], tmp_path)
    assert (out.returncode, out.stdout) == (code, ""), out.stderr
    assert out.stderr.strip().splitlines() == [f"{signum} during start-up: stopped before doing anything"]


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
