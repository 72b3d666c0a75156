"""Publishing on a registry volume that refuses a write (full, over quota): a publication is whole or
absent, never a version left behind that is neither current nor reported, and the ``models`` command
says which file could not be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import dhag.atomicwrite as atomicwrite
from pipeline import registry
from pipeline.cli import main

REFERENCE = [("p1", 0.0, {"flow_a": 1.0}), ("p1", 60.0, {"flow_a": 1.1})]


def _full_at(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The volume is full when the atomic writer renames into ``name``: the write before it succeeded."""
    real = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).name == name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        real(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", replace)


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name not in (".lock", ".sequence", "promoted.json"))


def _versions(root: Path) -> list[str]:
    """The files of versions, and any temp file (not the lock, nor the publication count)."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.name.startswith(("v", ".")) and p.name not in (".lock", ".sequence")
    )


def test_a_publication_whose_pointer_cannot_be_written_leaves_no_version(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    _full_at(monkeypatch, "current")
    with pytest.raises(OSError) as caught:
        registry.publish(tmp_path, fitted, "v2", reference=REFERENCE)
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "current")
    # Before, v2.dhag and its sample stayed, not current: the publication had failed, yet its name was
    # taken ("already exists" at the retry) and its files filled the volume further.
    assert _versions(tmp_path) == ["v1.dhag"] and registry.current(tmp_path)[0] == "v1"
    assert registry.publish(tmp_path, fitted, "v2", reference=REFERENCE) == "v2"  # once there is space
    # The history the cut-short switch wrote ends with the version that stayed current: one rollback
    # goes back to it, and no further.
    assert registry.rollback(tmp_path) == ("v2", "v1")
    with pytest.raises(registry.ModelUnavailableError, match="Nothing to roll back to"):
        registry.rollback(tmp_path)


def test_a_history_that_cannot_be_written_leaves_no_version_either(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    _full_at(monkeypatch, "history")
    with pytest.raises(OSError, match="No space left on device"):
        registry.publish(tmp_path, fitted, "v2", reference=REFERENCE)
    monkeypatch.undo()
    assert _versions(tmp_path) == ["v1.dhag"] and registry.current(tmp_path)[0] == "v1"


@pytest.mark.parametrize("full", ["v2.reference.json.gz", "v2.dhag"])
def test_a_sample_or_artifact_that_cannot_be_written_leaves_no_version_and_no_temp_file(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: str
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    _full_at(monkeypatch, full)
    with pytest.raises(OSError) as caught:
        registry.publish(tmp_path, fitted, "v2", reference=REFERENCE)
    monkeypatch.undo()
    assert caught.value.filename == str(tmp_path / full)
    assert _versions(tmp_path) == ["v1.dhag"] and registry.current(tmp_path)[0] == "v1"


def test_a_promotion_on_a_full_registry_keeps_the_version_and_the_pointer(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    _full_at(monkeypatch, "current")
    assert main(["models", "--registry", str(tmp_path), "promote", "v2"]) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err
    # Before: "the registry '...': No space left on device", not which of its files.
    assert f"refused: the registry {str(tmp_path)!r}: No space left on device" in err
    assert repr(str(tmp_path / "current")) in err
    # Before: nothing of how to make room.
    assert "dhag-pipeline models prune --keep N" in err and "retrain.keep_versions (50)" in err
    # A version is not withdrawn; the history is as it was (none: before, [v1] while v1 stayed current).
    assert _files(tmp_path) == ["current", "v1.dhag", "v2.dhag"]
    assert registry.current(tmp_path)[0] == "v1"
    assert registry.promote(tmp_path, "v2") == "v1"  # once there is space; the rollback target is kept
    assert registry.rollback(tmp_path) == ("v2", "v1")


def test_models_train_on_a_full_registry_names_the_file_and_leaves_the_registry_as_it_was(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pipeline.plantmodel

    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "1"]) == 0
    root = tmp_path / "registry"
    registry.publish(root, fitted, "v1")
    capsys.readouterr()
    real_replace = os.replace
    monkeypatch.setattr(pipeline.plantmodel, "train_plant_model", lambda *a, **k: fitted)  # its training
    _full_at(monkeypatch, "current")
    assert main(["models", "--registry", str(root), "train", str(history), "--version", "v2"]) == 2
    err = capsys.readouterr().err
    assert "models train: refused: the registry" in err and "No space left on device" in err
    assert repr(str(root / "current")) in err and "Traceback" not in err
    (refused,) = [line for line in err.splitlines() if "refused" in line]
    assert "dhag-pipeline models prune --keep N" in refused and "nothing changed" in refused
    assert _versions(root) == ["v1.dhag"]  # 'refused ... registry unchanged', as the command says
    monkeypatch.setattr(atomicwrite.os, "replace", real_replace)  # space again
    assert main(["models", "--registry", str(root), "train", str(history), "--version", "v2"]) == 0
    assert registry.current(root)[0] == "v2"


def test_an_interrupt_after_the_switch_took_effect_keeps_the_version_it_made_current(
    fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    real = registry.switch

    def switched_then_stopped(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # between the rename and the return

    monkeypatch.setattr(registry, "switch", switched_then_stopped)
    with pytest.raises(KeyboardInterrupt):
        registry.publish(tmp_path, fitted, "v2")
    monkeypatch.undo()
    assert registry.load_current(tmp_path)[0] == "v2"  # current never names a withdrawn version


def test_a_rollback_whose_history_cannot_be_shortened_is_reported_done(
    fitted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version)
    capsys.readouterr()
    real_replace = os.replace
    _full_at(monkeypatch, "history")
    assert main(["models", "--registry", str(tmp_path), "rollback"]) == 0
    out = capsys.readouterr().out
    # Before: "refused" (exit 2) while v2 had become current; an operator who ran it again went back
    # to v1, two versions further than the one rollback asked for.
    assert out == "v2 is current again (was v3)\n"
    assert "v2 is current again, but the history" in caplog.text and "could not be shortened" in caplog.text
    assert "No space left on device" in caplog.text
    assert registry.current(tmp_path)[0] == "v2"
    monkeypatch.setattr(atomicwrite.os, "replace", real_replace)  # space again
    assert registry.rollback(tmp_path) == ("v2", "v1")  # a second rollback: one further back
    with pytest.raises(registry.ModelUnavailableError, match="Nothing to roll back to"):
        registry.rollback(tmp_path)
