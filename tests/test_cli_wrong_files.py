"""``dhag info`` and ``dhag score`` given the wrong file: an empty one, a data file as the model, a model
cut short. Each is refused in one line that says what the file is, not a header size read from text."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_files import numbers_csv, one_epoch_model, refused_once

from dhag.cli import main


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.fixture
def model(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path)


@pytest.mark.parametrize("command", ["info", "score"])
def test_a_data_file_given_as_the_model_is_said_to_be_text(
    command: str, rows: Path, capsys, tmp_path: Path
) -> None:
    argv = ["info", str(rows)] if command == "info" else ["score", "--model", str(rows), "--data", str(rows)]
    err = refused_once(argv, capsys)
    assert "it starts with 'a,b\\n0,0\\n1,1\\n2,2" in err and "text, not a DHAG model" in err
    assert "bytes is cut short" not in err


@pytest.mark.parametrize(
    ("written", "said"),
    [
        # Text padded with zeros to a block's size (a copy cut off by a crash, a preallocated file).
        (
            b"hello world\n" + bytes(100),
            "it starts with 'hello world\\n', then NUL bytes: text, not a DHAG model",
        ),
        (b"ab" + bytes(100), "it starts with 'ab', then NUL bytes: text, not a DHAG model"),
        (b"ab" + bytes(30_000), "it starts with 'ab', then NUL bytes: text, not a DHAG model"),  # 'ab' fits
        (
            b"a,b\n1,2\n" + bytes(10_000),
            "it starts with 'a,b\\n1,2\\n', then NUL bytes: text, not a DHAG model",
        ),
        (bytes(100), "its first 40 bytes are NUL bytes (zeros), as no DHAG model's are"),
        (bytes(8), "it holds nothing but 8 NUL bytes (zeros)"),
        ("a,b\n1,2\n".encode("utf-16"), "it starts with 'a,b\\n1,2\\n': UTF-16 text, not a DHAG model"),
        ("a,b\n1,2\n".encode("utf-16-le"), "it starts with 'a,b\\n1,2\\n': UTF-16 text, not a DHAG model"),
    ],
)
def test_text_with_nul_bytes_given_as_the_model_is_said_to_be_what_it_is(
    written: bytes, said: str, tmp_path: Path, capsys
) -> None:
    # Before: "its header of 8031924123371070824 bytes is cut short: the file holds 112 bytes", "its header
    # of 25185 bytes does not begin with '{'", and of zeros "Expecting value: line 1 column 1 (char 0)".
    (tmp_path / "m.dhag").write_bytes(written)
    err = refused_once(["info", str(tmp_path / "m.dhag")], capsys)
    assert f"(truncated or not a safetensors file): {said}" in err
    assert "header of" not in err and "Expecting value" not in err


def test_a_model_cut_short_in_its_header_is_not_taken_for_text(model: Path, tmp_path: Path, capsys) -> None:
    # A header's length of printable bytes ('hd' is 25704), then its zeros: the start of a model.
    cut = tmp_path / "cut.dhag"
    for rest in (b"", model.read_bytes()[8:40]):
        cut.write_bytes(b"hd" + bytes(6) + rest)
        said = refused_once(["info", str(cut)], capsys)
        assert f"its header of 25704 bytes is cut short: the file holds {8 + len(rest)} bytes" in said


def test_an_empty_model_file_is_said_to_be_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "m.dhag").touch()
    err = refused_once(["info", str(tmp_path / "m.dhag")], capsys)
    assert "it is empty (0 bytes)" in err and "header" not in err


def test_a_model_file_of_a_few_bytes_says_how_few(model: Path, tmp_path: Path, capsys) -> None:
    short = tmp_path / "short.dhag"
    short.write_bytes(model.read_bytes()[:5])
    err = refused_once(["info", str(short)], capsys)
    assert "it holds only 5 bytes" in err


def test_a_model_cut_short_says_how_much_is_left(model: Path, tmp_path: Path, capsys) -> None:
    cut = tmp_path / "cut.dhag"
    cut.write_bytes(model.read_bytes()[:500])
    err = refused_once(["info", str(cut)], capsys)
    assert "truncated or not a safetensors file" in err and "cut short: the file holds 500 bytes" in err


@pytest.mark.parametrize("text", ["", "\n\n", "  \n"])
def test_an_empty_data_file_is_said_to_be_empty(model: Path, tmp_path: Path, text: str, capsys) -> None:
    data = tmp_path / "empty.csv"
    data.write_text(text)
    err = refused_once(["score", "--model", str(model), "--data", str(data)], capsys)
    assert f"Cannot read {str(data)!r}: it is empty" in err and "header row" in err
    assert "No columns to parse" not in err


def test_an_npz_without_feature_names_says_its_columns_were_named_for_it(
    model: Path, tmp_path: Path, capsys
) -> None:
    # Its columns read as x0, x1: it was told only that 'a' and 'b' were missing and 'x0', 'x1' unexpected,
    # and to name id columns with --id-columns, which has nothing to do with it.
    data = tmp_path / "rows.npz"
    np.savez(data, X=np.ones((3, 2)))
    err = refused_once(["score", "--model", str(model), "--data", str(data)], capsys)
    assert "unexpected 'x0', 'x1'" in err and "has no array 'feature_names'" in err
    assert "feature_names=np.array(['a', 'b'])" in err and "--id-columns" not in err


def test_data_from_a_pipe_is_said_to_be_one(model: Path, tmp_path: Path, capsys) -> None:
    pipe = tmp_path / "rows.csv"  # as `--data <(head -n 1000 big.csv)` gives: /dev/fd/63, a pipe
    pipe.unlink()
    os.mkfifo(pipe)
    err = refused_once(["score", "--model", str(model), "--data", str(pipe)], capsys)
    # Before: "Data file '.../rows.csv' is not a file.", of what the user took for one.
    assert err == (
        f"dhag score: error: Data file {str(pipe)!r} is a pipe (a FIFO, or a process substitution <(...)), "
        "which can be read only once, and dhag reads a file's first lines before the whole: write the "
        "rows to a file first, its suffix naming its format (.csv, .csv.gz, .parquet or .npz).\n"
    )


def test_data_given_as_a_device_names_it(model: Path, capsys) -> None:
    err = refused_once(["score", "--model", str(model), "--data", "/dev/null"], capsys)
    # Before: "Data file '/dev/null' is not a file."
    assert err == "dhag score: error: Data file '/dev/null' is a character device, not a file of rows.\n"


def test_data_given_as_a_folder_is_said_to_be_one(model: Path, tmp_path: Path, capsys) -> None:
    err = refused_once(["score", "--model", str(model), "--data", str(tmp_path)], capsys)
    assert err == f"dhag score: error: Data file {str(tmp_path)!r} is a folder: name a file in it.\n"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("rows.npz", "a zip archive (an NPZ, or a PyTorch .pt)"),
        ("rows.parquet", "a Parquet file"),
        ("rows.csv.gz", "a gzip-compressed file (a .csv.gz)"),
    ],
)
@pytest.mark.parametrize("command", ["info", "score"])
def test_a_binary_data_file_given_as_the_model_is_said_to_be_one(
    name: str, kind: str, command: str, rows: Path, tmp_path: Path, capsys
) -> None:
    data = tmp_path / name
    frame = pd.read_csv(rows)
    if name.endswith(".npz"):
        np.savez(data, X=frame.to_numpy())
    elif name.endswith(".parquet"):
        frame.to_parquet(data)
    else:
        frame.to_csv(data, index=False)
    argv = ["info", str(data)] if command == "info" else ["score", "--model", str(data), "--data", str(rows)]
    err = refused_once(argv, capsys)
    # Before: "its header of 193340853072 bytes is cut short: the file holds 304 bytes", a size read
    # from the archive's first bytes.
    assert err.endswith(
        f"Model artifact {str(data)!r} is not a readable DHAG model (truncated or not a safetensors file): "
        f"it is {kind}, not a DHAG model (a data file given as the model?)\n"
    )


def _written_as(kind: str, frame: pd.DataFrame, path: Path) -> None:
    if kind == "xlsx":  # a workbook is a zip archive of XML parts
        with zipfile.ZipFile(path, "w") as book:
            book.writestr("xl/workbook.xml", "<workbook/>")
    elif kind == "xls":  # an OLE2 compound file
        path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504))
    elif kind == "parquet":
        frame.to_parquet(path)
    elif kind == "gzip":
        path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    else:
        path.write_text(frame.to_csv(index=False))


@pytest.mark.parametrize("command", ["train", "score"])
@pytest.mark.parametrize(
    ("name", "kind", "said"),
    [
        (
            "rows.csv",
            "xlsx",
            "it is a zip archive (an Excel workbook, .xlsx, is one), not CSV text: save the "
            "sheet as CSV UTF-8.",
        ),
        (
            "rows.csv",
            "xls",
            "it is an Excel 97-2003 workbook (.xls), not CSV text: save the sheet as CSV UTF-8.",
        ),
        ("rows.csv", "parquet", "it is a Parquet file, not CSV text: name it .parquet."),
        ("rows.csv", "gzip", "it is a gzip-compressed file, not CSV text: name it .csv.gz."),
        (
            "rows.csv.gz",
            "text",
            "it is not gzip-compressed (it starts with 'a,b\\n0,0\\n1,1\\n2,2\\n3,3\\n'): name it .csv.",
        ),
        (
            "rows.xlsx",
            "xlsx",
            "the suffix must be .csv, .csv.gz, .parquet or .npz: save the sheet as CSV UTF-8.",
        ),
    ],
)
def test_a_data_file_of_another_format_than_its_name_says_is_said_to_be_one(
    command: str, name: str, kind: str, said: str, rows: Path, model: Path, tmp_path: Path, capsys
) -> None:
    # Before: "it is not UTF-8 text (byte 0x8b at position 1, line 1); save it as UTF-8" for a workbook,
    # a Parquet file or a gzip file named .csv, and gzip's "Not a gzipped file (b'a,')" for text named
    # .csv.gz.
    data = tmp_path / "given" / name
    data.parent.mkdir()
    _written_as(kind, pd.read_csv(rows), data)
    if command == "train":
        argv = ["train", "--data", str(data), "--out", str(tmp_path / "new.dhag")]
    else:
        argv = ["score", "--model", str(model), "--data", str(data)]
    assert refused_once(argv, capsys) == f"dhag {command}: error: Cannot read {str(data)!r}: {said}\n"


@pytest.mark.parametrize("command", ["train", "score"])
@pytest.mark.parametrize("notes", [["Plant A export"], ["Plant A export", "Exported 2026-01-05 by ops"]])
def test_a_title_above_the_header_is_said_to_be_one(
    command: str, notes: list[str], rows: Path, model: Path, tmp_path: Path, capsys
) -> None:
    # Before: pandas' "Expected 1 fields in line 2, saw 2", asking whether the separator was not ','.
    data = tmp_path / "export.csv"
    data.write_text("".join(f"{note}\n" for note in notes) + rows.read_text())
    if command == "train":
        argv = ["train", "--data", str(data), "--out", str(tmp_path / "new.dhag")]
    else:
        argv = ["score", "--model", str(model), "--data", str(data)]
    above = "the line above it" if len(notes) == 1 else "the 2 lines above it"
    assert refused_once(argv, capsys) == (
        f"dhag {command}: error: Cannot read {str(data)!r}: its first line, 'Plant A export', holds one "
        f"field where line {len(notes) + 1}, 'a,b', names 2 columns: a title above the header? delete "
        f"{above}, so that the header is the first line.\n"
    )


def test_a_one_column_file_whose_row_holds_a_comma_is_not_said_to_have_a_title(
    model: Path, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "flow.csv"
    data.write_text("flow\n1.5\n1,5\n")
    err = refused_once(["score", "--model", str(model), "--data", str(data)], capsys)
    assert "Expected 1 fields in line 3, saw 2" in err and "title" not in err


def test_a_csv_given_to_a_model_trained_on_an_npz_without_feature_names_says_how_to_name_its_columns(
    tmp_path: Path, capsys
) -> None:
    # It was told to name id columns with --id-columns, which has nothing to do with it.
    rows = tmp_path / "rows.npz"
    np.savez(rows, X=np.random.default_rng(0).normal(size=(200, 2)))
    model = one_epoch_model(rows, tmp_path)
    data = tmp_path / "named.csv"
    data.write_text("flow,temp\n1.0,2.0\n")
    err = refused_once(["score", "--model", str(model), "--data", str(data)], capsys)
    assert "missing 'x0', 'x1'; unexpected 'flow', 'temp'" in err
    assert "trained on columns without names (an NPZ without an array 'feature_names')" in err
    assert "name this file's columns x0, x1, ... in the training order" in err
    assert "--id-columns" not in err and "to_numpy" not in err
    data.write_text("x0,x1\n1.0,2.0\n")
    assert main(["score", "--model", str(model), "--data", str(data)]) == 0
