"""Commands that never touch a model start without importing torch (two seconds of CPU before the
command does anything): `check-config`, run by hand or before a start (`check-config && exec
dhag-pipeline retrain`), and the commands' --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import contextlib, io, sys
from pipeline.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[1:])
print("torch" in sys.modules)
"""


@pytest.mark.parametrize(
    "command",
    [["check-config", "--config", "{config}"], ["retrain", "--help"], ["models", "--help"]],
    ids=lambda command: " ".join(command).replace(" --config {config}", ""),
)
def test_a_command_without_a_model_does_not_import_torch(tmp_path: Path, command: list[str]) -> None:
    # Before: the parser imported the retrainer's package, whose training modules import torch.
    config = tmp_path / "config.yaml"
    config.write_text("{}\n")
    argv = [part.format(config=config) for part in command]
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip().splitlines()[-1:] == ["False"], result.stdout + result.stderr


@pytest.mark.parametrize("module", ["pipeline.alertepisodes", "pipeline.alertscmd", "dhag", "dhag.infotext"])
def test_the_consoles_modules_and_the_librarys_text_helpers_import_without_torch(module: str) -> None:
    # The alerts console names sensors as dhag info does (dhag.infotext). Before, importing any module
    # of dhag ran dhag/__init__.py, which imported the estimator and torch: seconds before the console
    # said anything.
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip().splitlines()[-1:] == ["False"], result.stdout + result.stderr
