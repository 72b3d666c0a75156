"""``dhag score`` on a file that holds no rows, only the names of its columns (an hourly export of an
hour without readings): the scores' header alone, exit 0, so that a pipeline goes on, and a warning
on stderr saying that nothing was scored."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pandas as pd
import pytest
from plant_data import FEATURES

from dhag.cli import main


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("explain", [[], ["--explain", "2"]])
def test_score_on_a_file_of_no_rows_writes_the_header_and_says_nothing_was_scored(
    tmp_path: Path, saved: Path, capsys, caplog: pytest.LogCaptureFixture, suffix: str, explain: list[str]
) -> None:
    # Before, it wrote the header alone and exited 0 without a word: a file cut short, or a filter
    # that left nothing, read as a batch scored with no anomaly in it.
    path = tmp_path / f"readings{suffix}"
    empty = pd.DataFrame({name: pd.Series([], dtype=float) for name in FEATURES})
    if suffix == ".csv":
        path.write_text(",".join(FEATURES) + "\n")
    else:
        empty.to_parquet(path)
    with caplog.at_level(logging.WARNING, logger="dhag"):
        assert main(["score", "--model", str(saved), "--data", str(path), *explain]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(scored.columns) == ["score", "anomaly", *(["top_features"] if explain else [])]
    assert scored.empty
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "dhag"]
    assert said == [
        f"{str(path)!r} holds no rows to score, only the names of its columns: nothing was scored, and "
        "the scores hold their header alone"
    ]


def test_score_on_a_file_with_rows_says_nothing_of_the_kind(
    tmp_path: Path, saved: Path, capsys, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text(",".join(FEATURES) + "\n" + ",".join(["1.0"] * len(FEATURES)) + "\n")
    with caplog.at_level(logging.WARNING, logger="dhag"):
        assert main(["score", "--model", str(saved), "--data", str(path)]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 1
    assert "holds no rows" not in caplog.text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("label", [[], ["--label-column", "label"]])
def test_train_on_a_file_of_no_rows_is_refused_saying_it_holds_none(
    tmp_path: Path, capsys, suffix: str, label: list[str]
) -> None:
    # It was refused as 'Need at least 2 normal rows to train. Got 0.', or with a label column as one
    # that 'marks 0 of the 0 rows as known anomalies', as if rows had been read.
    path = tmp_path / f"readings{suffix}"
    names = [*FEATURES, *(["label"] if label else [])]
    if suffix == ".csv":
        path.write_text(",".join(names) + "\n")
    else:
        pd.DataFrame({name: pd.Series([], dtype=float) for name in names}).to_parquet(path)
    out = tmp_path / "m.dhag"
    capsys.readouterr()
    assert main(["train", "--data", str(path), "--out", str(out), "--max-epochs", "1", *label]) == 2
    assert capsys.readouterr().err == (
        f"dhag train: error: {str(path)!r} holds no rows to train on, only the names of its columns: "
        "train on a file of readings; nothing was trained.\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--id-columns", "asset"], "--id-columns ('asset')"),
        (
            ["--id-columns", "asset", "--label-column", "label"],
            "--id-columns ('asset') or --label-column ('label')",
        ),
    ],
)
def test_train_on_a_file_whose_columns_are_all_ids_or_the_label_is_refused_saying_so(
    tmp_path: Path, capsys, options: list[str], named: str
) -> None:
    # It was refused as 'Need at least 1 feature (column) to train. Got 0.', naming neither the file nor
    # the options that took its columns.
    path = tmp_path / "readings.csv"
    labelled = "--label-column" in options
    path.write_text(
        ("asset,label\n" if labelled else "asset\n") + "".join(f"p{i}{',0' * labelled}\n" for i in range(20))
    )
    capsys.readouterr()
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "m.dhag"), *options]) == 2
    assert capsys.readouterr().err == (
        f"dhag train: error: {str(path)!r} holds no column to train on: each of its columns is named by "
        f"{named}, and ids and labels are no features; nothing was trained.\n"
    )
