"""The ``models`` command whose standard output refuses its lines (its reader gone: ``models list | head
-0``; a full disk) says so as such, never as a fault of the registry: ``list`` and ``show`` end quietly
with 141 for a reader gone, else with one line and exit 1; an action that changed the registry says on
stderr what it would have said, exit 0. Before, each was refused (exit 2) as 'the registry ...: Broken
pipe', or, for a full disk, as a full registry volume, advising a prune."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import modelcmd, registry
from pipeline.cli import _parser
from pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]


class _Refusing(io.StringIO):
    """An output whose writes the system refuses with ``errno``."""

    def __init__(self, code: int) -> None:
        super().__init__()
        self.code = code

    def write(self, text: str) -> int:
        raise (BrokenPipeError if self.code == errno.EPIPE else OSError)(self.code, os.strerror(self.code))


def _models(root: Path, code: int, *action: str) -> tuple[int, str]:
    err = io.StringIO()
    args = _parser().parse_args(["models", "--registry", str(root), *action])
    return modelcmd.run_models(Settings(), args, out=_Refusing(code), err=err), err.getvalue()


@pytest.fixture
def root(fitted, tmp_path: Path) -> Path:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    return tmp_path


@pytest.mark.parametrize("action", [["list"], ["show", "v1"]])
def test_list_and_show_whose_output_refuses_them_say_so_not_the_registry(
    root: Path, action: list[str]
) -> None:
    assert _models(root, errno.EPIPE, *action) == (141, "")
    assert _models(root, errno.ENOSPC, *action) == (
        1,
        f"models {action[0]}: cannot write to standard output: No space left on device\n",
    )


def test_a_promotion_whose_output_refuses_its_line_says_it_on_stderr_and_exits_0(root: Path) -> None:
    assert _models(root, errno.ENOSPC, "promote", "v1") == (
        0,
        "models promote: standard output refused its lines (No space left on device):\n"
        "v1 is current (was v2)\n",
    )
    assert registry.current(root)[0] == "v1"
    assert _models(root, errno.EPIPE, "rollback") == (
        0,
        "models rollback: standard output refused its lines (its reader is gone):\n"
        "v2 is current again (was v1)\n",
    )


def test_list_whose_reader_is_gone_ends_quietly_with_141(root: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # `| head -0`
    with os.fdopen(write, "wb") as gone:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "models", "--registry", str(root), "list"],
            stdout=gone,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            timeout=120,
        )
    assert (done.returncode, done.stderr.decode()) == (141, "")
