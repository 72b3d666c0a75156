"""read_table and the command line on Parquet files as databases and historians export them: a column
named twice, and decimal columns (SQL's NUMERIC), which are numbers."""

from __future__ import annotations

from decimal import Decimal
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


def test_decimal_parquet_columns_read_as_the_numbers_they_hold(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    flow = pa.array([Decimal("10.50"), Decimal("9.25"), None], pa.decimal128(10, 2))
    big = pa.array([Decimal("123456789.123456789"), Decimal("-1"), Decimal("0")], pa.decimal128(38, 9))
    pq.write_table(pa.table({"flow": flow, "big": big, "temp": [50.0, 51.0, 49.0]}), path)
    frame, _ = read_table(path)
    assert [str(t) for t in frame.dtypes] == ["float64", "float64", "float64"]
    assert frame["flow"].tolist()[:2] == [10.5, 9.25] and frame["flow"].isna().tolist() == [
        False,
        False,
        True,
    ]
    assert frame["big"].tolist() == [123456789.123456789, -1.0, 0.0]


def test_a_decimal_column_trains_and_scores_as_numbers(tmp_path: Path, capsys) -> None:
    path = tmp_path / "rows.parquet"
    flow = pa.array([Decimal(f"{10 + i % 7}.{i % 10}5") for i in range(200)], pa.decimal128(10, 2))
    pq.write_table(pa.table({"flow": flow, "temp": [float(i % 5) for i in range(200)]}), path)
    out = tmp_path / "m.dhag"
    argv = [
        "train",
        "--data",
        str(path),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--max-epochs",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["score", "--model", str(out), "--data", str(path), "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 201


def test_a_declared_categorical_decimal_column_is_left_as_read(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    codes = pa.array([Decimal("1.0"), Decimal("2.0")], pa.decimal128(4, 1))
    pq.write_table(pa.table({"code": codes, "temp": [1.0, 2.0]}), path)
    frame, _ = read_table(path, text_columns=["code"])
    assert frame["code"].tolist() == [Decimal("1.0"), Decimal("2.0")]


@pytest.mark.parametrize(
    ("written", "said"),
    [
        (
            b"flow,temp\n1.5,20\n",
            "it is text (it starts with 'flow,temp\\n1.5,20\\n'), not a Parquet file: a CSV "
            "is read named .csv.",
        ),
        (
            b"\x1f\x8b\x08\x00",
            "it is a gzip-compressed file, not a Parquet file: name it .csv.gz where it holds a CSV.",
        ),
        (
            b"PK\x03\x04",
            "it is a zip archive (an Excel workbook, .xlsx, is one), not a Parquet file: save the "
            "sheet as CSV UTF-8.",
        ),
        (b"", "it is empty (0 bytes)."),
    ],
)
def test_a_file_named_parquet_that_is_none_says_what_it_is(tmp_path: Path, written: bytes, said: str) -> None:
    # Before: pyarrow's "Parquet magic bytes not found in footer. Either the file is corrupted or this is
    # not a parquet file." for a CSV given a Parquet file's name.
    path = tmp_path / "rows.parquet"
    path.write_bytes(written)
    with pytest.raises(InputError) as refused:
        read_table(path)
    assert str(refused.value) == f"Cannot read {str(path)!r}: {said}"
