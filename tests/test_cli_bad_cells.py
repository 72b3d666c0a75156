"""A numeric column of a file holding a few words among many numbers is refused as a column of numbers
with cells that are none (how many, the first few with their rows, to correct or drop), not with the
hint to declare it categorical, which fits a column of words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag.cli import main
from dhag.exceptions import InputError
from dhag.preprocessing import Preprocessor


def _readings(path: Path, bad: dict[int, str], rows: int = 10_000) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 2)), columns=["a", "b"]).astype(object)
    for row, word in bad.items():
        frame.loc[row, "b"] = word
    frame.to_csv(path, index=False)
    return path


def test_one_word_among_ten_thousand_numbers_is_a_bad_cell_not_a_category(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _readings(tmp_path / "readings.csv", {5000: "broken"})
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "Got 'broken' (str) at row 5000, line 5,002 of readings.csv." in said
    # Before: "A column of categories must be declared: ... (dhag train --categorical b)".
    assert (
        "It holds numbers: 9,999 of its 10,000 values are, 1 is not ('broken' at row 5000, line 5,002)"
        in said
    )
    assert "correct that cell, or drop its row" in said and "--categorical" not in said


def test_several_bad_cells_are_counted_and_the_first_few_named(tmp_path: Path, capsys) -> None:
    bad = {12: "?", 40: "broken", 41: "broken", 9000: "err", 9500: "--"}  # "n/a" reads as NaN
    data = _readings(tmp_path / "readings.csv", bad)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "Got '?' (str) at row 12, line 14 of readings.csv." in said
    # Each cell listed says where it lies; before, only the first row the line named did.
    assert (
        "9,995 of its 10,000 values are, 5 are not ('?' at row 12, line 14; 'broken' at row 40, line 42; "
        in said
    )
    assert "'broken' at row 41, line 43; ...): correct those cells, or drop their rows" in said
    assert "--categorical" not in said
    lines = data.read_text().splitlines()
    assert [lines[n - 1].split(",")[1] for n in (14, 42, 43)] == ["?", "broken", "broken"]


def test_each_bad_cell_of_a_parquet_file_is_placed_among_its_rows(tmp_path: Path, capsys) -> None:
    data = tmp_path / "readings.parquet"
    pd.read_csv(_readings(tmp_path / "readings.csv", {3: "?", 20: "broken"})).to_parquet(data)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert "Got '?' (str) at row 3, the fourth row of readings.parquet." in said
    assert "2 are not ('?' at row 3, the fourth row; 'broken' at row 20, the 21st row)" in said


def test_scoring_a_column_of_numbers_with_a_bad_cell_says_so_too(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.dhag"
    train = _readings(tmp_path / "train.csv", {}, rows=300)
    assert main(["train", "--data", str(train), "--out", str(model), "--max-epochs", "1", "--quiet"]) == 0
    data = _readings(tmp_path / "new.csv", {7: "broken"}, rows=300)
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(data)]) == 2
    said = capsys.readouterr().err
    assert "299 of its 300 values are, 1 is not ('broken' at row 7, line 9)" in said


@pytest.mark.parametrize(
    "values", [["pump", "valve", "7", "pump"], ["north", "south", "east", "7"], ["3", "run", "idle", "4"]]
)
def test_a_column_of_words_is_still_told_to_be_declared(values: list[str]) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "mode": values}, dtype=object)
    with pytest.raises(InputError, match=r"categorical=\['mode'\] \(dhag train --categorical mode\)") as info:
        Preprocessor().fit(frame)
    assert "It holds numbers" not in str(info.value)


def test_a_text_array_of_numbers_with_a_bad_cell_is_told_so() -> None:
    rows = {"a": np.array([1.0, 3.5, 4.0, 6.0]), "b": np.array(["2", "x", "5", "7"])}  # b: dtype <U1
    with pytest.raises(InputError, match=r"3 of its 4 values are, 1 is not \('x' at row 1\)") as info:
        Preprocessor().fit(rows)
    assert "--categorical" not in str(info.value)
