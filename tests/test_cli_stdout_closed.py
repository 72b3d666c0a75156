"""``dhag`` commands whose one product is what they print, run with standard output closed (``>&-``):
refused before any work, with one line on stderr and exit status 2, as ``dhag score`` without ``--out``
is refused, rather than printing nowhere and exiting 0 as if the output had been read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

import dhag
from dhag.cli import main


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stdout_closed")
    return one_epoch_model(numbers_csv(folder, rows=50), folder)


@pytest.mark.parametrize("argv", [[], ["--json"]])
def test_info_with_standard_output_closed_is_refused(
    model: Path, argv: list[str], monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of a closed standard output: `>&-`
    monkeypatch.setattr("dhag.infocmd.read_manifest", lambda *a, **k: pytest.fail("read the model first"))
    # Before: the model's description printed nowhere, and exit status 0.
    assert main(["info", str(model), *argv]) == 2
    assert capsys.readouterr().err == (
        "dhag info: error: standard output is closed (>&-), so what dhag info says of the model has "
        "nowhere to go: run it with standard output open, or redirected to a file; nothing was read.\n"
    )


def test_info_run_with_standard_output_closed_says_so_and_exits_2(model: Path) -> None:
    here = {"PYTHONPATH": str(Path(dhag.__file__).parents[1])}
    done = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "dhag", "info", str(model)],
        env={**os.environ, **here},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("dhag info: error: standard output is closed (>&-)")
