"""Paths given to ``dhag`` as ``--data=~/rows.csv``, where the shell leaves the ``~`` as it is (it
expands one only at a word's start), and to :func:`dhag.io.read_table`: the home folder's, as the model
paths of save and load are, not a folder named ``~`` in the working folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_files import numbers_csv

from dhag.cli import main
from dhag.io import read_table


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder holding ``rows.csv``, and a working folder apart from it (where an unexpanded ``~``
    went)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    numbers_csv(tmp_path / "home", rows=60)
    return tmp_path / "home"


def _train(*argv: str) -> int:
    return main(["train", *argv, "--device", "cpu", "--max-epochs", "1", "--quiet"])


def test_read_table_expands_a_tilde(home: Path) -> None:
    # Before: InputError, "Data file '~/rows.csv' does not exist."
    frame, _ = read_table("~/rows.csv")
    assert list(frame.columns) == ["a", "b"] and len(frame) == 60


def test_train_score_info_and_sign_take_paths_after_an_equals_sign(home: Path, capsys, monkeypatch) -> None:
    # Before: train refused --data=~/rows.csv ("does not exist"), exit 2.
    assert _train("--data=~/rows.csv", "--out=~/m.dhag") == 0
    assert f"wrote {home / 'm.dhag'}" in capsys.readouterr().out
    assert (home / "m.dhag").is_file()
    assert main(["score", "--model=~/m.dhag", "--data=~/rows.csv", "--out=~/scores.csv"]) == 0
    assert (home / "scores.csv").read_text().startswith("score,anomaly\n")
    capsys.readouterr()
    assert main(["info", "--json", "~/m.dhag"]) == 0
    assert json.loads(capsys.readouterr().out)["feature_names"] == ["a", "b"]
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "a key for this test")
    assert main(["sign", "~/m.dhag", "--out=~/signed.dhag"]) == 0
    assert (home / "signed.dhag").is_file()
    assert not (home.parent / "cwd" / "~").exists()


def test_out_through_a_link_at_home_keeps_the_link(home: Path) -> None:
    (home / "v1.dhag").write_bytes(b"")
    (home / "current.dhag").symlink_to("v1.dhag")
    # Before: the checks of --out=~/current.dhag looked at ./~/current.dhag, which is no link, so the
    # save replaced the link in the home folder with the file.
    assert _train("--data=~/rows.csv", "--out=~/current.dhag") == 0
    assert (home / "current.dhag").is_symlink()
    assert (home / "v1.dhag").stat().st_size > 0


def test_out_that_is_the_data_at_home_is_refused(home: Path, capsys) -> None:
    before = (home / "rows.csv").read_bytes()
    # Before: '~/rows.csv' and the data's path were not seen as one file.
    assert main(["score", "--model=~/m.dhag", "--data", str(home / "rows.csv"), "--out=~/rows.csv"]) == 2
    assert "is the --data file: the scores would replace it" in capsys.readouterr().err
    assert (home / "rows.csv").read_bytes() == before
