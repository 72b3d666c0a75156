"""``dhag``'s own options (``-v``/``--verbose``) are taken after the command as before it:
``dhag train ... -v`` as ``dhag -v train ...``, where argparse only knew them before the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag
from dhag.cli import build_parser


def _dhag(*argv: str) -> subprocess.CompletedProcess:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "dhag", *argv],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("verbose")
    rows = numbers_csv(folder)
    return rows, one_epoch_model(rows, folder)


@pytest.mark.parametrize(
    ("where", "option"), [("before", "-v"), ("after", "-v"), ("after", "--verbose"), ("between", "-v")]
)
def test_verbose_is_taken_before_or_after_the_command(
    where: str, option: str, files: tuple[Path, Path], tmp_path: Path
) -> None:
    rows, model = files
    argv = ["score", "--model", str(model), "--data", str(rows), "--out", str(tmp_path / "s.csv")]
    argv = {
        "before": [option, *argv],
        "after": [*argv, option],
        "between": [*argv[:3], option, *argv[3:]],
    }[where]
    done = _dhag(*argv)
    # Before: `dhag score ... -v` exited 2, "dhag: error: unrecognized arguments: -v".
    assert done.returncode == 0, done.stderr
    assert "INFO dhag: scored 200 rows" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "r.csv", "--out", "m.dhag"],
        ["score", "--model", "m.dhag", "--data", "r.csv"],
        ["info", "m.dhag"],
        ["sign", "m.dhag"],
        ["bench", "speed"],
    ],
)
def test_every_command_takes_verbose_after_it(argv: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args([*argv, "-v"]).verbose is True
    assert parser.parse_args(["--verbose", *argv]).verbose is True
    # Given only before the command, it is not undone by the command's own default.
    assert parser.parse_args(argv).verbose is False
