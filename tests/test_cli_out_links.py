"""``--out`` naming a symbolic link (a registry's ``current.dhag`` pointing at a version): the model or
the scores are written through it, to the file it leads to, whole (made in that file's folder and
renamed over it), and the link stays a link. Before, ``train`` replaced the link with a file of its own."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cli_files import numbers_csv, stand_in_model

from dhag import read_manifest
from dhag.cli import main


def _train(rows: Path, out: Path) -> int:
    return main(
        ["train", "--data", str(rows), "--out", str(out), "--device", "cpu", "--max-epochs", "1", "--quiet"]
    )


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return numbers_csv(tmp_path / "data")


def test_train_out_a_link_writes_the_file_it_leads_to(rows: Path, tmp_path: Path, capsys) -> None:
    versions, current = tmp_path / "versions", tmp_path / "current"
    versions.mkdir()
    current.mkdir()
    target = versions / "v1.dhag"
    stand_in_model(target)  # an older model
    link = current / "model.dhag"
    link.symlink_to(os.path.relpath(target, current))
    assert _train(rows, link) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert read_manifest(link)["feature_names"] == ["a", "b"]
    assert sorted(p.name for p in versions.iterdir()) == ["v1.dhag"]  # no temp file beside it
    assert sorted(p.name for p in current.iterdir()) == ["model.dhag"]
    assert f"wrote {target.resolve()} (the file {link} links to)" in capsys.readouterr().out


def test_train_out_a_dangling_link_makes_the_file_it_names(rows: Path, tmp_path: Path) -> None:
    link = tmp_path / "model.dhag"
    target = tmp_path / "versions" / "v2.dhag"  # its folder missing: made, as --out's folders are
    link.symlink_to(target)
    assert _train(rows, link) == 0
    assert link.is_symlink() and target.is_file()
    assert read_manifest(target)["feature_names"] == ["a", "b"]


def test_train_out_a_link_in_a_loop_is_refused_before_training(rows: Path, tmp_path: Path, capsys) -> None:
    link = tmp_path / "model.dhag"
    link.symlink_to(link.name)
    assert _train(rows, link) == 2
    err = capsys.readouterr().err
    assert repr(str(link)) in err and "loop" in err and "nothing was trained" in err
    assert link.is_symlink()


def test_sign_in_place_through_a_link_signs_the_file_it_leads_to(
    rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "v1.dhag"
    assert _train(rows, target) == 0
    link = tmp_path / "current.dhag"
    link.symlink_to(target.name)
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "a key of some length for the test")
    assert main(["sign", str(link)]) == 0
    # Before: the link was replaced by a signed copy, and v1.dhag stayed unsigned.
    assert link.is_symlink() and read_manifest(target, with_signature=True)["signed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.dhag", "data", "v1.dhag"]


def test_score_out_a_link_on_a_full_volume_leaves_the_file_it_leads_to(
    rows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = tmp_path / "m.dhag"
    assert _train(rows, model) == 0
    kept = tmp_path / "kept"
    kept.mkdir()
    target = kept / "scores.csv"
    target.write_text("yesterday's scores\n")
    link = tmp_path / "scores.csv"
    link.symlink_to(target)
    real_fsync = os.fsync

    def full(fd: int) -> None:  # the volume takes the probe's bytes, then refuses more at the sync
        monkeypatch.setattr(os, "fsync", _no_room)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", str(link)]) == 2
    # Before: the scores were written through the link as they came, and the file was cut short.
    assert target.read_text() == "yesterday's scores\n" and link.is_symlink()
    assert sorted(p.name for p in kept.iterdir()) == ["scores.csv"]
    assert "No space left on device" in capsys.readouterr().err


def _no_room(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
