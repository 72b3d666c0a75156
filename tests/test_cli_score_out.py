"""``dhag score --out`` that cannot be written is refused before the file is read and scored, as
``dhag train --out`` is before training: a mistyped path is said at once, not after a long scoring."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.cli import main


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.fixture
def model(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path)


@pytest.fixture
def no_scoring(monkeypatch):
    """Reading the rows fails the test: each refusal below must come before it."""

    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("read the rows before refusing --out")

    monkeypatch.setattr("dhag.scorecmd.read_table", read)


def _score(model: Path, rows: Path, out: Path | str) -> int:
    return main(["score", "--model", str(model), "--data", str(rows), "--out", str(out)])


def test_score_out_naming_a_folder_is_refused_before_scoring(
    model: Path, rows: Path, tmp_path: Path, no_scoring, capsys
) -> None:
    assert _score(model, rows, tmp_path) == 2
    err = capsys.readouterr().err
    assert f"--out {str(tmp_path)!r} is a folder: name the CSV file to write" in err
    assert "nothing was scored" in err


def test_score_out_under_a_file_is_refused_before_scoring(
    model: Path, rows: Path, no_scoring, capsys
) -> None:
    assert _score(model, rows, rows / "scores.csv") == 2
    err = capsys.readouterr().err
    assert f"{str(rows)!r} is not a folder" in err and "No such folder" not in err


def test_score_out_in_a_missing_folder_is_refused_before_scoring(
    model: Path, rows: Path, tmp_path: Path, no_scoring, capsys
) -> None:
    assert _score(model, rows, tmp_path / "typo" / "scores.csv") == 2
    err = capsys.readouterr().err
    assert f"there is no folder {str(tmp_path / 'typo')!r}" in err and not (tmp_path / "typo").exists()


def test_score_out_in_a_folder_it_may_not_write_is_refused_before_scoring(
    model: Path, rows: Path, tmp_path: Path, no_scoring, monkeypatch, capsys
) -> None:
    # As root every folder is writable: the system's answer for a read-only one is given here.
    locked = tmp_path / "scores"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    assert _score(model, rows, locked / "s.csv") == 2
    assert f"cannot write in {str(locked)!r}" in capsys.readouterr().err


def test_score_out_to_a_device_is_written_as_before(model: Path, rows: Path, capfd) -> None:
    assert _score(model, rows, "/dev/stdout") == 0
    assert capfd.readouterr().out.startswith("score,anomaly\n")


@pytest.mark.parametrize("given", ["--model", "--data"])
def test_score_out_naming_the_model_or_the_rows_is_refused(
    model: Path, rows: Path, given: str, capsys
) -> None:
    # Before, the scores replaced the model (or the rows they were scored from) without a word.
    target = model if given == "--model" else rows
    before = target.read_bytes()
    link = target.with_name("same" + target.suffix)
    link.symlink_to(target)  # the same file under another name is the same file
    for out in (target, link):
        assert _score(model, rows, out) == 2
        err = capsys.readouterr().err
        assert f"--out {str(out)!r} is the {given} file" in err and "nothing was scored" in err
    assert target.read_bytes() == before


def test_train_out_naming_the_rows_is_refused(rows: Path, capsys) -> None:
    before = rows.read_bytes()
    assert main(["train", "--data", str(rows), "--out", str(rows), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(rows)!r} is the --data file" in err and "nothing was trained" in err
    assert rows.read_bytes() == before


@pytest.mark.parametrize("name", ["scores.parquet", "scores.pq", "scores.csv.gz", "scores.npz"])
def test_score_out_named_as_another_format_is_refused_before_scoring(
    model: Path, rows: Path, tmp_path: Path, name: str, no_scoring, capsys
) -> None:
    # It wrote CSV text under the name: pd.read_parquet, or dhag score --data on the .csv.gz, then failed.
    assert _score(model, rows, tmp_path / name) == 2
    err = capsys.readouterr().err
    assert f"--out {str(tmp_path / name)!r}" in err and "writes CSV" in err
    assert repr(str(tmp_path / "scores.csv")) in err and "nothing was scored" in err
    assert not (tmp_path / name).exists()


def test_score_out_with_another_suffix_is_written_as_csv(model: Path, rows: Path, tmp_path: Path) -> None:
    assert _score(model, rows, tmp_path / "scores.txt") == 0
    assert (tmp_path / "scores.txt").read_text().startswith("score,anomaly\n")


def test_score_out_dash_writes_the_scores_to_standard_output(
    model: Path, rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert _score(model, rows, "-") == 0
    # Before: a file named '-' in the working folder, and nothing on standard output.
    assert not (tmp_path / "-").exists()
    assert capsys.readouterr().out.splitlines()[0] == "score,anomaly"


def test_train_out_dash_is_refused_before_training(rows: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("dhag.commands.read_table", lambda *a, **k: pytest.fail("read the rows first"))
    assert main(["train", "--data", str(rows), "--out", "-", "--quiet"]) == 2
    # Before: trained, then wrote the model to a file named '-' in the working folder.
    assert not (tmp_path / "-").exists()
    assert capsys.readouterr().err == (
        "dhag train: error: --out '-' names standard output, where the model is not written: name the "
        "model file, such as 'model.dhag' ('./-' for a file named '-'); nothing was trained.\n"
    )


@pytest.mark.parametrize("command", ["train", "score"])
def test_out_ending_in_a_slash_is_refused_as_a_folder(
    command: str, model: Path, rows: Path, tmp_path: Path, no_scoring, capsys
) -> None:
    given = f"{tmp_path / 'results'}/"  # a folder, meant to be made or written in
    argv = {
        "train": ["train", "--data", str(rows)],
        "score": ["score", "--model", str(model), "--data", str(rows)],
    }
    with pytest.raises(SystemExit) as stopped:
        main([*argv[command], "--out", given])
    assert stopped.value.code == 2
    # Before: the slash dropped, the model or the scores written to a file named 'results'.
    assert not (tmp_path / "results").exists()
    example = "model.dhag" if command == "train" else "scores.csv"
    said = f"argument --out: {given!r} ends in '/', naming a folder: name the file to write, such as "
    assert said + repr(given + example) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "held", "said"),
    [
        (
            "current.dhag",
            "model",
            "is a DHAG model, which the scores (CSV text) would replace: name a .csv file",
        ),
        (
            "scores.csv",
            "model",
            "is a DHAG model, which the scores (CSV text) would replace: name another file",
        ),
        ("rows.bin", "parquet", "is a Parquet file, which the scores (CSV text) would replace"),
    ],
)
def test_score_out_holding_a_model_or_binary_data_is_refused_and_kept(
    name: str, held: str, said: str, model: Path, rows: Path, tmp_path: Path, no_scoring, capsys
) -> None:
    # Before, the scores replaced a model (--out current.dhag for --out current.csv) without a word.
    out = tmp_path / name
    if held == "model":
        out.write_bytes(model.read_bytes())
    else:
        pd.DataFrame({"a": [1.0]}).to_parquet(out)
    before = out.read_bytes()
    assert _score(model, rows, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dhag score: error: --out {str(out)!r} {said}") and "nothing was scored" in err
    assert out.read_bytes() == before


def test_score_out_replaces_the_scores_written_before(model: Path, rows: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("score,anomaly\n0.25,0\n")
    assert _score(model, rows, out) == 0 and len(out.read_text().splitlines()) == 201
