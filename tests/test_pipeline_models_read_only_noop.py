"""``models`` commands that would change nothing (promote the current version, hold while held, release
with no hold, a prune with nothing to remove) succeed on a registry they cannot write (a daemon's
read-only mount), saying so; before, each was refused for the registry's lock file, which it could not
open for writing. One that would change something is still refused, and changes nothing."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pipeline import lockfile, promotionhold, registry
from pipeline.cli import main


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(path: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(lockfile, "open_lock", refused)


@pytest.fixture
def root(fitted, tmp_path: Path) -> Path:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    return tmp_path


def _models(root: Path, *action: str) -> int:
    return main(["models", "--registry", str(root), *action])


def test_promoting_the_current_version_on_a_read_only_registry_changes_nothing_and_exits_0(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {path.name: path.read_bytes() for path in root.iterdir() if path.is_file()}
    capsys.readouterr()
    _read_only(monkeypatch)
    assert _models(root, "promote", "v2") == 0
    assert capsys.readouterr().out == "v2 is already current: nothing changed\n"
    assert {path.name: path.read_bytes() for path in root.iterdir() if path.is_file()} == before
    assert _models(root, "promote", "v1") == 2  # a switch: still refused, naming the mount
    assert "cannot write to the registry" in capsys.readouterr().err
    assert registry.current(root)[0] == "v2"


def test_hold_while_held_and_release_with_no_hold_on_a_read_only_registry_exit_0(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        _read_only(m)
        assert _models(root, "release") == 0
        assert capsys.readouterr().out == "no promotion hold in place: nothing to release\n"
    assert _models(root, "hold", "--reason", "audit") == 0
    capsys.readouterr()
    _read_only(monkeypatch)
    assert _models(root, "hold", "--reason", "other") == 0
    assert capsys.readouterr().out.startswith("promotions already held since ")
    assert _models(root, "release") == 2  # a hold to remove: still refused, and it stays
    assert "cannot write to the registry" in capsys.readouterr().err
    hold = promotionhold.read(root)
    assert hold is not None and hold.reason == "audit"


def test_a_prune_with_nothing_to_remove_on_a_read_only_registry_exits_0(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _read_only(monkeypatch)
    capsys.readouterr()
    assert _models(root, "prune", "--keep", "5") == 0
    assert capsys.readouterr().out == "removed 0 version(s)\n"
    (root / "v9.reference.json.gz").write_bytes(b"")  # a sample left by an interrupted publication
    assert _models(root, "prune", "--keep", "5") == 2  # something to remove: still refused
    assert "cannot write to the registry" in capsys.readouterr().err
    assert (root / "v9.reference.json.gz").exists()
