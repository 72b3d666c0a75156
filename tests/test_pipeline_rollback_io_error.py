"""A version whose file fails to be read (an I/O error, no permission, no memory: an OSError of the
system, not a fault found in the file) is not a damaged one: a rollback refuses rather than pass over
it and drop it from the history, naming the file, the error and what to check; ``models list`` /
``prune`` and the count by state report it as ``io_error``, not ``damaged``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import dhag.artifact
from pipeline import registry
from pipeline.cli import main
from pipeline.errors import ModelUnavailableError, VersionUnreadableError
from pipeline.retention import prune, survey

ERRORS = {"EIO": errno.EIO, "EACCES": errno.EACCES, "ENOMEM": errno.ENOMEM}


@pytest.fixture
def published(fitted, tmp_path: Path) -> Path:
    """v1, v2 in the history, v3 current."""
    for n in (1, 2, 3):
        registry.publish(tmp_path, fitted, f"v{n}")
    return tmp_path


def _failing_read(monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    """Opening the artifact ``name`` fails with ``code`` (the tests run as root, whom no mode stops, and
    no volume here fails on demand)."""
    real = os.open

    def failing(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202 - os.open's own signature
        if Path(path).name == name:
            raise OSError(code, os.strerror(code), str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(dhag.artifact.os, "open", failing)


def _on_disk(root: Path) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in root.iterdir() if p.is_file())


@pytest.mark.parametrize("name", ERRORS)
def test_a_rollback_refuses_when_a_history_entry_fails_to_be_read(
    published: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    before = _on_disk(published)
    _failing_read(monkeypatch, "v2.dhag", ERRORS[name])
    # Before: v2 was passed over as damaged and dropped from the history; v1 became current.
    with pytest.raises(ModelUnavailableError) as refused:
        registry.rollback(published)
    said = str(refused.value)
    assert str(published / "v2.dhag") in said and f"({name})" in said and os.strerror(ERRORS[name]) in said
    assert "nothing changed" in said and "owner and mode" in said and "volume" in said
    monkeypatch.undo()
    assert _on_disk(published) == before
    assert registry.current(published)[0] == "v3" and registry.history(published) == ["v1", "v2"]
    # Once the read works, v2 loads: the rollback goes back to it, not past it.
    assert registry.rollback(published) == ("v3", "v2")
    assert registry.history(published) == ["v1"]


def test_models_rollback_exits_2_naming_the_file_and_the_error(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _on_disk(published)
    _failing_read(monkeypatch, "v2.dhag", errno.EIO)
    capsys.readouterr()
    assert main(["models", "--registry", str(published), "rollback"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "models rollback: passed over" not in captured.err
    assert captured.err.startswith("models rollback: refused: ")
    assert str(published / "v2.dhag") in captured.err and "Input/output error (EIO)" in captured.err
    monkeypatch.undo()
    assert _on_disk(published) == before


def test_load_version_names_a_read_error_io_error_and_a_file_gone_meanwhile_missing(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_read(monkeypatch, "v2.dhag", errno.EIO)
    with pytest.raises(VersionUnreadableError) as failed:
        registry.load_version(published, "v2")
    assert failed.value.fault == "io_error"
    # Removed between the check that it is a file and its opening: missing, as when it was gone before.
    _failing_read(monkeypatch, "v1.dhag", errno.ENOENT)
    with pytest.raises(VersionUnreadableError) as gone:
        registry.load_version(published, "v1")
    assert gone.value.fault == "missing"


def test_listing_prune_and_the_count_report_a_read_error_as_io_error_not_damaged(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _failing_read(monkeypatch, "v1.dhag", errno.EIO)
    (published / "v2.dhag").write_bytes(b"cut")  # damaged, for contrast
    faults = {info.version: info.fault for info in registry.list_models(published)}
    # Before: v1 was "damaged", as v2 is.
    assert faults == {"v1": "io_error", "v2": "damaged", "v3": None}
    info = registry.describe(published, "v1")
    assert info.error is not None and "Input/output error (EIO)" in info.error
    assert survey(published) == {
        "readable": 1,
        "newer_release": 0,
        "bad_signature": 0,
        "damaged": 1,
        "io_error": 1,
    }
    kept = prune(published, keep=1, dry_run=True).kept_unreadable
    assert [tuple(k) for k in kept] == [
        ("v1", "io_error", "history", None),
        ("v2", "damaged", "history", None),
    ]
    assert main(["models", "--registry", str(published), "prune", "--keep", "1", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    v1 = next(line for line in lines if line.startswith("kept v1"))
    assert "failed to be read" in v1 and "volume" in v1 and "damaged" not in v1


def test_a_history_entry_whose_stat_fails_refuses_the_rollback_as_a_read_error_not_a_write_one(
    published: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _on_disk(published)
    real_stat = Path.stat

    def failing_stat(self: Path, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - Path.stat's own
        if self.name == "v2.dhag":
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", failing_stat)
    capsys.readouterr()
    # Before: the OSError left the rollback as if a write had failed ("cannot write to the registry").
    assert main(["models", "--registry", str(published), "rollback"]) == 2
    err = capsys.readouterr().err
    assert "cannot write" not in err and "a read error" in err and "(EACCES)" in err
    with pytest.raises(VersionUnreadableError) as failed:
        registry.load_version(published, "v2")
    assert failed.value.fault == "io_error"
    monkeypatch.undo()
    assert _on_disk(published) == before
