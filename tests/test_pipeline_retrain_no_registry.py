"""``dhag-pipeline retrain`` on a registry folder that is not there: it says so as ``run`` does, naming
the key and the config line or variable that set it (pipeline.hostchecks.no_registry_folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_CONFIG = "kafka:\n  bootstrap_servers: k:9092\nmodel:\n  registry: noreg\n"


def _retrain(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    environ |= {f"DHAG_PIPELINE_{k}": v for k, v in env.items()} | {"DHAG_PIPELINE_METRICS__ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "retrain", "--once", "--config", "c.yaml"],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_registry_folder_is_named_with_the_line_that_set_it_as_run_names_it(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(_CONFIG)
    out = _retrain(tmp_path)
    assert out.returncode == 4, out.stderr
    missing = str(tmp_path / "noreg")
    assert (
        f"there is no registry folder {missing!r} (model.registry, line 4 of 'c.yaml': a misspelt path?); "
        "'dhag-pipeline models train HISTORY' publishes a first model there" in out.stderr
    )
    assert not (tmp_path / "noreg").exists()


def test_a_missing_registry_folder_is_named_with_the_variable_that_set_it(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(_CONFIG)
    missing = tmp_path / "other"
    out = _retrain(tmp_path, MODEL__REGISTRY=str(missing))
    assert out.returncode == 4, out.stderr
    assert (
        f"there is no registry folder {str(missing)!r} (model.registry, set by DHAG_PIPELINE_MODEL__REGISTRY"
        in out.stderr
    )


def test_a_registry_that_is_a_file_is_said_to_be_no_folder(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(_CONFIG)
    (tmp_path / "reg").write_text("")
    out = _retrain(tmp_path, MODEL__REGISTRY=str(tmp_path / "reg"))
    assert out.returncode == 4, out.stderr
    assert f"the registry {str(tmp_path / 'reg')!r} (model.registry, set by" in out.stderr
    assert "is not a folder" in out.stderr
