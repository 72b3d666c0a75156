"""``dhag-pipeline run`` on a registry folder that is not there (a misspelt model.registry): it names
the folder and the key, and where the key was set, not a pointer file inside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    environ |= {f"DHAG_PIPELINE_{k}": v for k, v in env.items()} | {"DHAG_PIPELINE_METRICS__ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=environ,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_registry_folder_is_named_with_the_line_that_set_it(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("kafka:\n  bootstrap_servers: embedded\nmodel:\n  registry: noreg\n")
    out = _run(["run", "--config", "c.yaml"], tmp_path)
    assert out.returncode == 4, out.stderr
    missing = str(tmp_path / "noreg")
    assert f"there is no registry folder {missing!r} (model.registry, line 4 of 'c.yaml'" in out.stderr
    assert "current' does not exist" not in out.stderr


def test_a_missing_registry_folder_is_named_with_the_variable_that_set_it(tmp_path: Path) -> None:
    missing = tmp_path / "noreg"
    out = _run(["run"], tmp_path, MODEL__REGISTRY=str(missing))
    assert out.returncode == 4, out.stderr
    assert (
        f"there is no registry folder {str(missing)!r} (model.registry, set by DHAG_PIPELINE_MODEL__REGISTRY"
        in (out.stderr)
    )


def test_a_registry_that_is_a_file_is_said_to_be_no_folder(tmp_path: Path) -> None:
    (tmp_path / "reg").write_text("")
    out = _run(["run"], tmp_path, MODEL__REGISTRY=str(tmp_path / "reg"))
    assert out.returncode == 4, out.stderr
    assert f"the registry {str(tmp_path / 'reg')!r} (model.registry, set by" in out.stderr
    assert "is not a folder" in out.stderr


def test_an_empty_registry_folder_still_says_it_holds_no_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = _run(["run"], tmp_path, MODEL__REGISTRY=str(tmp_path / "empty"))
    assert out.returncode == 4 and "No model in the registry" in out.stderr
