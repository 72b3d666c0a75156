"""The ``models`` command on a registry folder that is not there, or that it may read but not write."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pipeline import lockfile, registry
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


def test_a_dry_run_prune_reads_a_registry_it_cannot_write(
    fitted, tmp_path: Path, capsys, monkeypatch
) -> None:
    # A daemon pod mounts the registry read-only; --dry-run only lists, yet was refused there for the
    # registry's lock, which it cannot open for writing.
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version, make_current=version == "v1")
    (tmp_path / "v9.dhag").write_bytes(b"not a model")

    def read_only(path: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(lockfile, "open_lock", read_only)
    assert main(["models", "--registry", str(tmp_path), "prune", "--keep", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "would remove 1 version(s): v2"
    assert out[1].startswith("kept v9, unreadable: damaged")
    # Removing is a write: still refused, naming the mount, and nothing goes.
    assert main(["models", "--registry", str(tmp_path), "prune", "--keep", "1"]) == 2
    assert "cannot write to the registry" in capsys.readouterr().err
    assert (tmp_path / "v2.dhag").exists()
