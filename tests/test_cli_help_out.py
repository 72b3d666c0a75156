"""``dhag --help`` (and a command's) with standard output closed (``>&-``) or on a full device: one line on
stderr and exit status 2, as every other command whose product is what it prints; before, argparse
printed the help on stderr, or dropped the refused write, and exited 0."""

from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dhag
from dhag.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["score", "-h"], ["bench", "--help"]])
def test_help_with_standard_output_closed_is_refused(argv: list[str], monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of a closed standard output: `>&-`
    assert main(argv) == 2
    prog = " ".join(["dhag", *argv[:-1]])
    assert capsys.readouterr().err == (
        f"{prog}: error: standard output is closed (>&-), so the help of {prog} has nowhere to go: run "
        "it with standard output open, or redirected to a file.\n"
    )


class _FullDevice(io.StringIO):
    """Standard output redirected to a full device (``> /dev/full``): its writes are refused at the flush."""

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_help_on_a_full_device_says_so(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdout", _FullDevice())
    assert main(["--help"]) == 2
    assert capsys.readouterr().err == (
        "dhag: error: cannot write the help to standard output: No space left on device\n"
    )


def test_help_goes_to_standard_output_and_exits_0(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["info", "--help"])
    out, err = capsys.readouterr()
    assert done.value.code == 0 and out.startswith("usage: dhag info") and err == ""
    # Its one argument was listed bare, 'model', saying nothing of what to give there.
    assert re.search(r"^ +model +the model file \(a \.dhag written by dhag train\)$", out, re.MULTILINE)


def test_help_run_with_standard_output_closed_says_so_and_exits_2() -> None:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1])}
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "dhag", "--help"],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [
            "dhag: error: standard output is closed (>&-), so the help of dhag has nowhere to go: run it "
            "with standard output open, or redirected to a file."
        ],
    )
