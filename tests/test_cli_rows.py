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
