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
