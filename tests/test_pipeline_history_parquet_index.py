"""A history Parquet file whose columns pandas stored as its index (``df.set_index("t").to_parquet(...)``)
is read as ``dhag`` reads a named index (:func:`dhag.parquetfile.index_as_columns`): a level naming a
column the history needs (``asset_id``, ``t``, a sensor, in any case) is that column; another is not
read, and named where the history is refused as lacking a column. Before, ``pd.read_parquet`` dropped
the index in silence, and the file was refused as lacking ``t`` while it held it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.features import INPUT_SENSORS
from pipeline.historyfile import HistoryError, read_history

ROWS = 120


@pytest.fixture
def plant() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    readings = {name: rng.normal(10.0, 1.0, ROWS) for name in INPUT_SENSORS}
    return pd.DataFrame(
        {"asset_id": ["p1", "p2"] * (ROWS // 2), "t": 1.8e9 + 30.0 * np.arange(ROWS)} | readings
    )


@pytest.mark.parametrize("index", [["t"], ["asset_id", "t"], ["T"]])
def test_a_needed_column_stored_as_the_index_is_read(
    plant: pd.DataFrame, tmp_path: Path, index: list[str]
) -> None:
    path = tmp_path / "history.parquet"
    plant.rename(columns={"t": index[-1]}).set_index(index).to_parquet(path)
    frame = read_history(path).frame
    assert frame["t"].tolist() == plant["t"].tolist()
    assert frame["asset_id"].tolist() == plant["asset_id"].tolist()


def test_an_index_of_another_name_is_named_where_a_column_is_lacking(
    plant: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "history.parquet"
    plant.rename(columns={"t": "Timestamp"}).set_index("Timestamp").to_parquet(path)
    with pytest.raises(
        HistoryError, match=r"lacks the column\(s\) t \(it has: 'asset_id', .*; and an index named "
    ):
        read_history(path)


def test_an_index_named_as_a_column_is_refused_saying_so(plant: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    plant.set_index(pd.Index(plant["t"].to_numpy(), name="t")).to_parquet(path)
    with pytest.raises(
        HistoryError, match=r"^its index \(as pandas stored it\) is named 't', as a column is; "
    ):
        read_history(path)


def test_rows_of_a_file_with_an_unnamed_index_are_counted_from_its_first(
    plant: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "history.parquet"
    kept = plant.iloc[10:].copy()  # its index starts at 10, and pandas stores it
    kept.iloc[0, kept.columns.get_loc("t")] = 1.8e12  # epoch milliseconds: refused, naming the row
    kept.to_parquet(path)
    with pytest.raises(HistoryError, match=r" at row 1\b"):
        read_history(path)
