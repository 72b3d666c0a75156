"""``dhag`` run with its stderr closed (``2>&-``): what it would have said there is not said at all, and
nothing of it reaches stdout, which may be the scores (``score --out -``); the exit status is as ever.
Before, Python's ``print(..., file=sys.stderr)`` and argparse's usage, given no stderr, wrote to stdout;
and the first file the command opened took descriptor 2, so that a library's message to stderr landed
in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag

# The command with descriptor 2 closed, as `dhag ... 2>&-` runs it; with WRITE_FD2 set, pandas' CSV
# writer first writes a line to descriptor 2, as a C library's warning would (dropped where none is).
_CLOSED = """
import os, sys
if os.environ.get("WRITE_FD2"):
    import pandas as pd
    real = pd.DataFrame.to_csv
    def to_csv(self, *args, **kwargs):
        try:
            os.write(2, b"a library's warning on stderr\\n")
        except OSError:
            pass
        return real(self, *args, **kwargs)
    pd.DataFrame.to_csv = to_csv
from dhag.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _closed_stderr(*argv: str, **env: str) -> subprocess.CompletedProcess:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1]), **env}
    return subprocess.run(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", sys.executable, "-c", _CLOSED, *argv],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("closed")
    rows = numbers_csv(folder, rows=50)
    return rows, one_epoch_model(rows, folder)


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "--model", "missing.dhag", "--data", "missing.csv", "--out", "-"],  # DHAGError
        ["score", "--model", "missing.dhag"],  # argparse: --data missing
        ["score", "--model", "m.dhag", "--data", "r.csv", "--explain", "many"],  # argparse: a bad value
        ["info", "/"],  # OSError: a folder
    ],
)
def test_an_error_with_stderr_closed_says_nothing_on_stdout(argv: list[str], tmp_path: Path) -> None:
    done = _closed_stderr(*argv)
    # Before: "dhag score: error: ..." (or argparse's usage) on stdout, among or instead of the scores.
    assert done.returncode == 2 and done.stdout == ""


def test_scores_on_stdout_with_stderr_closed_are_the_scores_alone(files: tuple[Path, Path]) -> None:
    rows, model = files
    done = _closed_stderr("-v", "score", "--model", str(model), "--data", str(rows), "--out", "-")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "score,anomaly" and len(lines) == 51


def test_a_library_writing_to_stderr_writes_into_no_file_of_the_command(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    rows, model = files
    out = tmp_path / "scores.csv"
    done = _closed_stderr(
        "score", "--model", str(model), "--data", str(rows), "--out", str(out), WRITE_FD2="1"
    )
    assert done.returncode == 0 and done.stdout == ""
    # Before: the scores' temp file was opened as descriptor 2 and began with the library's line.
    assert out.read_text().splitlines()[0] == "score,anomaly"
