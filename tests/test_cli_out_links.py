"""``--out`` naming a symbolic link (a registry's ``current.dhag`` pointing at a version): the model or
the scores are written through it, to the file it leads to, whole (made in that file's folder and
renamed over it), and the link stays a link. Before, ``train`` replaced the link with a file of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_files import numbers_csv

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
    target.write_bytes(b"an older model")
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
