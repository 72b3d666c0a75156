"""An error of ``dhag train`` or ``dhag score`` that names a row of the data file says where it lies: the
library counts rows from 0, the header not counted; an editor shows a CSV's lines from 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag.cli import main


def _csv(path: Path, bad_row: int | None) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"]).astype(object)
    if bad_row is not None:
        frame.loc[bad_row, "b"] = "broken"
    frame.to_csv(path, index=False)
    return path


def test_train_names_the_csv_line_of_a_bad_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _csv(tmp_path / "readings.csv", bad_row=3)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag")]) == 2
    said = capsys.readouterr().err
    assert "Got 'broken' (str) at row 3, line 5 of readings.csv." in said
    assert (data.read_text().splitlines()[4]).split(",")[1] == "broken"  # line 5, as said
    assert not (tmp_path / "m.dhag").exists()


def test_score_names_the_place_of_a_bad_row_of_a_parquet_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.dhag"
    train = _csv(tmp_path / "train.csv", bad_row=None)
    assert main(["train", "--data", str(train), "--out", str(model), "--max-epochs", "1"]) == 0
    data = tmp_path / "new.parquet"
    frame = pd.DataFrame({"a": [0.1, 0.2, 0.3], "b": [0.0, float("nan"), 0.1], "c": [1.0, 2.0, 3.0]})
    frame.to_parquet(data)
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(data)]) == 2
    said = capsys.readouterr().err
    assert "(first at row 1, the second row of new.parquet)" in said, said


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("n/a", "which reads 'n/a'"),
        ("NA", "which reads 'NA'"),
        ("null", "which reads 'null'"),
        ("", "which is empty"),
    ],
)
def test_a_missing_value_is_shown_as_the_file_writes_it(
    tmp_path: Path, cell: str, shown: str, capsys
) -> None:
    data = _csv(tmp_path / "readings.csv", bad_row=None)
    lines = data.read_text().splitlines()
    fields = lines[4].split(",")
    lines[4] = ",".join([fields[0], cell, fields[2]])
    data.write_text("\n".join(lines) + "\n")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag")]) == 2
    said = capsys.readouterr().err
    # Before: "(first at row 3, line 5 of readings.csv)", whatever the cell held.
    assert (
        f"Feature 'b' has 1 NaN or infinite value(s) (first at row 3, line 5 of readings.csv, {shown})."
        in said
    )
    assert "An empty cell of a file, or one holding a word for missing such as NA, n/a or null, reads" in said


def _train_with_label_cell(tmp_path: Path, capsys, cell: str) -> str:
    """``dhag train --label-column label`` of 50 rows whose row 4 has ``cell`` as its label: exit 2, and
    what it said on stderr."""
    data = tmp_path / "labelled.csv"
    data.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{cell if i == 4 else 0}\n" for i in range(50)))
    assert (
        main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--label-column", "label"])
        == 2
    )
    return capsys.readouterr().err


def test_a_label_written_as_missing_is_shown_as_written(tmp_path: Path, capsys) -> None:
    said = _train_with_label_cell(tmp_path, capsys, "n/a")
    assert "must hold only 0 and 1. Got no label (row 4, line 6 of labelled.csv, which reads 'n/a')." in said


def test_a_label_left_empty_is_said_empty_at_its_line(tmp_path: Path, capsys) -> None:
    # Before: "Got nan (row 4, line 6 of labelled.csv, which is empty)", pandas' word for the empty cell.
    said = _train_with_label_cell(tmp_path, capsys, "")
    assert said == (
        "dhag train: error: Label column 'label' must hold only 0 and 1. Got no label (row 4, line 6 of "
        "labelled.csv, which is empty).\n"
    )


def test_a_missing_value_of_a_labelled_file_is_placed_at_its_row(tmp_path: Path, capsys) -> None:
    data = tmp_path / "labelled.csv"
    rows = "".join(f"{'null' if i == 30 else i},{i % 7},{int(i % 10 == 0)}\n" for i in range(50))
    data.write_text("a,b,label\n" + rows)
    assert (
        main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--label-column", "label"])
        == 2
    )
    assert "(first at row 30, line 32 of labelled.csv, which reads 'null')" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a,b\n1,2\n\n\n3,4\n5,6\n7,broken\n8,9\n", 7),  # blank lines, which are skipped, still count
        ("a,b\r\n1,2\r\n\r\n3,4\r\n5,broken\r\n", 5),
        ("a,b\n1,2\n   \n3,broken\n", 4),  # a line of spaces is blank too
        ('a,b\n1,"2\n"\n3,4\n5,broken\n', 5),  # a quoted line break: one row over two lines
    ],
)
def test_the_line_named_is_the_one_an_editor_shows_past_blank_lines_and_quoted_breaks(
    tmp_path: Path, text: str, line: int, capsys
) -> None:
    data = tmp_path / "readings.csv"
    data.write_bytes(text.encode())
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag")]) == 2
    said = capsys.readouterr().err
    # It was the row's index plus 2, as if every row were one line and no line blank.
    assert f", line {line} of readings.csv" in said, said
    assert "broken" in data.read_bytes().decode().splitlines()[line - 1]
