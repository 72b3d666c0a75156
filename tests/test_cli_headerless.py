"""A CSV exported without its header row (a historian's export, the tag list kept apart): its first row
of readings would be taken for the column names. ``dhag train`` says so, ``dhag score`` says so in its
refusal, rather than training on features named '9.874' and '51.2' without a word."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cli_files import modes_csv, numbers_csv, one_epoch_model

from dhag.cli import main


def _headerless(folder: Path, first: str = "9.874,51.2") -> Path:
    path = folder / "export.csv"
    path.write_text(first + "\n" + "".join(f"{i}.5,{i % 7}.25\n" for i in range(200)))
    return path


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dhag" and r.levelno == logging.WARNING]


def test_train_on_a_file_whose_header_is_all_numbers_warns_that_it_may_have_none(
    tmp_path: Path, caplog
) -> None:
    data = _headerless(tmp_path)
    with caplog.at_level(logging.WARNING, logger="dhag"):
        one_epoch_model(data, tmp_path)
    said = [w for w in _warnings(caplog) if "header" in w]
    assert len(said) == 1, _warnings(caplog)
    assert "export.csv" in said[0] and "'9.874', '51.2'" in said[0]
    assert "no header row" in said[0] and "left out" in said[0]


def test_train_on_a_file_with_a_header_of_names_does_not_warn_of_one_missing(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="dhag"):
        one_epoch_model(numbers_csv(tmp_path), tmp_path)
    assert not [w for w in _warnings(caplog) if "header" in w]


def test_score_of_a_file_without_its_header_row_says_the_header_is_missing(tmp_path: Path, capsys) -> None:
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    data = _headerless(tmp_path, first="10,3")
    assert main(["score", "--model", str(model), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "first line of export.csv holds only numbers ('10', '3')" in err
    assert "header row missing" in err and "the model's features: 'a', 'b'" in err


def test_score_of_a_file_without_its_header_row_with_a_categorical_column_says_so(
    tmp_path: Path, capsys
) -> None:
    # A first row of readings holds a category ('idle'), which no number is: the refusal named the
    # readings as unexpected features, without a word of the header.
    rows = modes_csv(tmp_path)
    model = tmp_path / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(model), "--categorical", "mode", "--max-epochs", "1"]
    assert main([*argv, "--device", "cpu", "--quiet"]) == 0
    data = tmp_path / "export.csv"
    data.write_text("".join(rows.read_text().splitlines(keepends=True)[9:]))
    assert main(["score", "--model", str(model), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        "first line of export.csv holds only numbers and categories the model knows ('8', '1', 'idle')" in err
    )
    assert "header row missing" in err and "the model's features: 'a', 'b', 'mode'" in err


@pytest.mark.parametrize("command", ["train", "score"])
def test_a_file_without_a_header_whose_first_row_repeats_a_value_says_the_header_may_be_missing(
    command: str, tmp_path: Path, capsys
) -> None:
    data = _headerless(tmp_path, first="0,0")
    if command == "train":
        argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag")]
    else:
        argv = [
            "score",
            "--model",
            str(one_epoch_model(numbers_csv(tmp_path), tmp_path)),
            "--data",
            str(data),
        ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the header names '0' more than once" in err and "holds only numbers" in err
    assert err.count("\n") == 1
