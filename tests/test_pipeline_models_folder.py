"""The ``models`` command on a registry folder that is not there, or that it may read but not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main


@pytest.mark.parametrize(
    "action", [["prune"], ["prune", "--dry-run"], ["rollback"], ["promote", "v1"], ["show", "v1"]]
)
def test_a_registry_folder_that_is_not_there_is_named_as_list_names_it(
    tmp_path: Path, capsys, action
) -> None:
    # A misspelt --registry: prune said "removed 0 version(s)" with exit 0, rollback named
    # 'missing/.lock', promote and show a version the registry lacks.
    missing = tmp_path / "regsitry"
    assert main(["models", "--registry", str(missing), *action]) == 2
    assert (
        capsys.readouterr().err
        == f"models {action[0]}: refused: there is no registry folder {str(missing)!r}\n"
    )
    assert not missing.exists()
