"""read_table and the command line on Parquet files as databases and historians export them: a column
named twice."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhag import InputError
from dhag.cli import main
from dhag.io import read_table


def test_a_parquet_file_naming_a_column_twice_is_refused_in_one_line_naming_it(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "rows.parquet"
    columns = [pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array([5.0, 6.0])]
    pq.write_table(pa.Table.from_arrays(columns, names=["flow", "temp", "flow"]), path)
    with pytest.raises(InputError, match=r"rows.parquet': it names 'flow' more than once") as caught:
        read_table(path)
    assert "\n" not in str(caught.value) and "__fragment_index" not in str(caught.value)
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "m.dhag")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names 'flow' more than once" in err
