"""A promotion hold whose file is a folder (a bind mount of a file that was not there makes one): it
holds, as a hold file that cannot be read does, and ``models release`` and ``models hold``, which the
hold's line names as the way out, replace it or say why they cannot."""

from __future__ import annotations

from pathlib import Path

from pipeline import promotionhold
from pipeline.cli import main

HOLD = "promotion-hold.json"


def _models(capsys, registry: Path, *args: str) -> tuple[int, str, str]:
    code = main(["models", "--registry", str(registry), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_release_removes_a_hold_that_is_an_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / HOLD).mkdir()
    code, out, _ = _models(capsys, tmp_path, "list")
    assert code == 0 and "`dhag-pipeline models release` removes it" in out
    # Before: "models release: refused: the registry ...: Is a directory", exit 2, though the line
    # above names release as what removes it.
    code, out, err = _models(capsys, tmp_path, "release")
    assert (code, err) == (0, "") and out.startswith("promotions released: removed the hold file")
    assert not (tmp_path / HOLD).exists() and promotionhold.read(tmp_path) is None


def test_hold_replaces_a_hold_that_is_an_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / HOLD).mkdir()
    code, out, err = _models(capsys, tmp_path, "hold", "--reason", "review", "--operator", "ana")
    assert (code, err) == (0, "") and "by ana: review" in out  # before: refused, "Is a directory"
    assert promotionhold.read(tmp_path).reason == "review"


def test_a_hold_folder_with_files_in_it_is_refused_naming_it(tmp_path: Path, capsys) -> None:
    (tmp_path / HOLD).mkdir()
    (tmp_path / HOLD / "notes.txt").write_text("kept")
    for action in ("release", "hold"):
        code, out, err = _models(capsys, tmp_path, action)
        assert code == 2 and out == ""
        assert f"{str(tmp_path / HOLD)!r} is a folder with files in it" in err and "by hand" in err
    assert (tmp_path / HOLD / "notes.txt").read_text() == "kept"
    assert promotionhold.read(tmp_path).error is not None  # it holds still


def test_a_hold_that_cannot_be_written_leaves_the_folder_holding(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / HOLD).mkdir()

    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(promotionhold, "write_atomic", full)
    code, _, err = _models(capsys, tmp_path, "hold", "--reason", "review")
    assert code == 2 and "No space left on device" in err
    assert (tmp_path / HOLD).is_dir() and promotionhold.read(tmp_path) is not None
