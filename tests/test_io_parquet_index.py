"""A Parquet file pandas wrote from a frame with a named index (``df.set_index("ts").to_parquet(...)``):
the index is a column wherever the command names it (``--id-columns ts``, a model's id or feature), as
the CSV of that frame holds it, and is left out with a warning otherwise, as fit and scoring leave out
a DataFrame's index; before, it was dropped in silence, and ``--id-columns ts`` was refused as a column
the file does not hold."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import InputError
from dhag.artifact import load_model
from dhag.cli import main
from dhag.io import read_table


def _readings(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"flow": rng.normal(10, 1, rows), "temp": rng.normal(50, 2, rows)})
    return frame.set_index(pd.date_range("2026-01-01", periods=rows, freq="min", name="ts"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("parquet_index")
    indexed = folder / "readings.parquet"
    _readings().to_parquet(indexed)
    model = folder / "m.dhag"
    argv = ["train", "--data", str(indexed), "--out", str(model), "--id-columns", "ts", "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    return {"indexed": indexed, "model": model}


def _scores(capsys) -> pd.DataFrame:  # noqa: ANN001
    return pd.read_csv(io.StringIO(capsys.readouterr().out))


def test_an_index_named_as_an_id_is_written_beside_the_scores(files: dict[str, Path], capsys) -> None:
    # Trained with --id-columns ts: the model keeps ts as its id, and score carries it unasked.
    assert load_model(files["model"]).feature_names_in_ == ["flow", "temp"]
    capsys.readouterr()
    assert main(["score", "--model", str(files["model"]), "--data", str(files["indexed"])]) == 0
    scores = _scores(capsys)
    assert list(scores.columns) == ["ts", "score", "anomaly"] and len(scores) == 200
    assert scores["ts"].iloc[:2].tolist() == ["2026-01-01 00:00:00", "2026-01-01 00:01:00"]


def test_an_index_no_option_names_is_left_out_with_a_warning(
    files: dict[str, Path], tmp_path: Path, capsys, caplog
) -> None:
    plain = tmp_path / "plain.dhag"
    argv = ["train", "--data", str(files["indexed"]), "--out", str(plain), "--device", "cpu", "--quiet"]
    with caplog.at_level(logging.WARNING, logger="dhag"):
        assert main([*argv, "--max-epochs", "1"]) == 0
    said = [r.getMessage() for r in caplog.records if "holds an index named" in r.getMessage()]
    assert said == [
        f"{str(files['indexed'])!r} holds an index named 'ts' (pandas' to_parquet of a frame indexed by it): "
        "left out, as fit and scoring leave out a DataFrame's index; --id-columns ts carries it beside the "
        "scores (to train on it, store it as a column: df.reset_index().to_parquet(...))"
    ]
    assert load_model(plain).feature_names_in_ == ["flow", "temp"]
    capsys.readouterr()
    assert main(["score", "--model", str(plain), "--data", str(files["indexed"]), "--id-columns", "ts"]) == 0
    assert list(_scores(capsys).columns) == ["ts", "score", "anomaly"]


def test_a_numeric_index_is_no_feature_unless_declared(tmp_path: Path) -> None:
    frame = _readings().reset_index(drop=True).rename_axis("reading")
    frame.index = frame.index + 1000
    path = tmp_path / "numbered.parquet"
    frame.to_parquet(path)
    read, _ = read_table(path)
    assert list(read.columns) == ["flow", "temp"]  # a row number trained on would flag new rows
    kept, _ = read_table(path, named=["reading"])
    assert list(kept.columns) == ["reading", "flow", "temp"] and kept["reading"].iloc[0] == 1000
    assert kept.index.equals(pd.RangeIndex(200))


def test_an_unnamed_index_is_left_out_without_a_word(tmp_path: Path, caplog) -> None:
    path = tmp_path / "rows.parquet"
    _readings().reset_index(drop=True).iloc[::2].to_parquet(path)  # row numbers 0, 2, 4, ... stored
    with caplog.at_level(logging.WARNING, logger="dhag"):
        read, _ = read_table(path)
    assert list(read.columns) == ["flow", "temp"] and not caplog.records


def test_an_index_named_as_a_column_is_refused_naming_it(tmp_path: Path) -> None:
    frame = _readings().reset_index(drop=True)
    frame.index = pd.Index(range(200), name="flow")
    path = tmp_path / "clash.parquet"
    frame.to_parquet(path)
    with pytest.raises(
        InputError, match=r"its index \(as pandas stored it\) is named 'flow', as a column is"
    ):
        read_table(path, named=["flow"])
