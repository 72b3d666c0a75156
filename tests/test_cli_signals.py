"""``dhag train`` and ``dhag score`` stopped by SIGTERM (``timeout``, ``kill``, a CI job cancelled) or
SIGHUP (the terminal closed) while writing their file: the file at ``--out`` is left as it was, no part
of the new one stays behind, and one line says what stopped the command, which exits 128 + the signal's
number, as a shell reports a command a signal ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag
from dhag.cli import main

# The command run in a child process, a signal sent to itself as the file's bytes are made durable
# (the first fsync of a file other than the probe that checks, before any work, that --out's folder takes
# bytes): the moment every write of `--out` passes through, halfway from the first byte to the rename
# that puts the new file in place.
_SIGNALLED_AT_FSYNC = """
import os, sys
from dhag.cli import main
real_fsync = os.fsync
def fsync(fd):
    if not os.readlink(f"/proc/self/fd/{fd}").endswith(".probe"):
        os.fsync = real_fsync
        os.kill(os.getpid(), int(os.environ["SIGNAL"]))
    real_fsync(fd)
os.fsync = fsync
sys.exit(main(sys.argv[1:]))
"""


def _signalled(argv: list[str], signum: int) -> subprocess.CompletedProcess:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1]), "SIGNAL": str(int(signum))}
    return subprocess.run(
        [sys.executable, "-c", _SIGNALLED_AT_FSYNC, *argv],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_score_stopped_while_writing_leaves_the_out_file_as_it_was(
    rows: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    model = one_epoch_model(rows, tmp_path)
    folder = tmp_path / "scores"
    folder.mkdir()
    out = folder / "scores.csv"
    out.write_text("yesterday's scores\n")
    done = _signalled(["score", "--model", str(model), "--data", str(rows), "--out", str(out)], signum)
    # Before: killed where it stood (-15), the temp file '.scores.csv.XXXX.tmp' left in the folder.
    assert done.returncode == 128 + signum, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["scores.csv"]
    assert out.read_text() == "yesterday's scores\n"
    assert done.stderr == f"dhag score: stopped by {signum.name}\n"


def test_train_stopped_while_saving_leaves_no_part_of_the_model(rows: Path, tmp_path: Path) -> None:
    out = tmp_path / "models" / "m.dhag"
    argv = [
        "train",
        "--data",
        str(rows),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--max-epochs",
        "1",
        "--quiet",
    ]
    done = _signalled(argv, signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert list(out.parent.iterdir()) == []
    assert done.stderr.endswith("dhag train: stopped by SIGTERM\n") and "Traceback" not in done.stderr
    assert done.stdout == ""  # no "wrote ..." for a model that was not written


def test_help_says_what_a_stop_by_signal_exits_with(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "143 stopped by SIGTERM, 129 by SIGHUP" in " ".join(capsys.readouterr().out.split())
