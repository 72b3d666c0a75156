"""Files a user may hand ``dhag train`` / ``dhag score`` that pandas or numpy would read wrongly or
refuse with advice that misleads: each is refused naming the file and what is wrong with it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import InputError, load_model
from dhag.cli import main
from dhag.io import read_table


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_file_with_another_separator_is_refused_naming_it(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"a{sep}b{sep}mode\n1.5{sep}2{sep}run\n3{sep}4{sep}idle\n")
    with pytest.raises(InputError, match=re.escape(f"separated by {sep!r}")) as info:
        read_table(path)
    assert "rows.csv" in str(info.value) and "comma" in str(info.value)


def test_a_one_column_file_whose_name_holds_a_semicolon_alone_is_read(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("flow;total\n1.5\n2.5\n")
    frame, _ = read_table(path)
    assert list(frame.columns) == ["flow;total"] and frame["flow;total"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_a_file_of_one_declared_column_whose_name_and_values_hold_a_separator_is_read(
    tmp_path: Path, sep: str
) -> None:
    # One comma-separated column of categories 'zone;sector': its header and every row hold one ';'.
    path = tmp_path / "rows.csv"
    path.write_text(f"zone{sep}sector\nnorth{sep}3\nsouth{sep}4\nnorth{sep}3\n")
    frame, _ = read_table(path, text_columns=[f"zone{sep}sector"])
    assert list(frame.columns) == [f"zone{sep}sector"]
    assert frame[f"zone{sep}sector"].tolist() == [f"north{sep}3", f"south{sep}4", f"north{sep}3"]


def test_train_reads_a_one_column_csv_of_categories_holding_a_semicolon(tmp_path: Path, capsys) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("temp;C\n" + "".join(f"{v};x\n" for v in [1.5, 2.5, 3.5] * 40))
    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(path), "--out", str(out), "--categorical", "temp;C"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0, capsys.readouterr().err
    assert load_model(out).preprocessor_.output_names_ == ["temp;C=1.5;x", "temp;C=2.5;x", "temp;C=3.5;x"]


def test_a_one_column_file_whose_first_row_alone_splits_as_its_header_is_read(tmp_path: Path) -> None:
    # Notes that hold a ';' now and then: the later rows do not split as the header does.
    path = tmp_path / "rows.csv"
    path.write_text("note;x\nbad;valve\nok\nseal; gland; leak\n")
    frame, _ = read_table(path)
    assert frame["note;x"].tolist() == ["bad;valve", "ok", "seal; gland; leak"]


@pytest.mark.parametrize(
    "text",
    [
        'a;b;note\n1.5;2;x\n3;4;"p;q"\n',  # a quoted field that holds the separator
        "mode;site\nrun;A\nidle;B\n",  # text only
    ],
)
def test_a_file_another_separator_splits_alike_in_every_row_is_still_refused(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(InputError, match="separated by ';'"):
        read_table(path, text_columns=["mode", "note"])


def test_the_refusal_of_a_file_of_text_split_by_another_separator_says_how_to_read_one_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("mode;site\nrun;A\nidle;B\n")
    with pytest.raises(InputError, match=r"one column named 'mode;site'.*--categorical") as info:
        read_table(path)
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a;b;mode\n1.5;2;run\n3;4;idle\n")
    with pytest.raises(InputError) as info:
        read_table(numbers)
    assert "one column named" not in str(info.value), "columns of numbers are no one column of text"


@pytest.mark.parametrize(("encoding", "shown"), [("latin-1", "0xe9"), ("utf-16", "0xff")])
def test_a_file_not_in_utf8_is_refused_saying_so(tmp_path: Path, encoding: str, shown: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("a,mode\n1,café\n2,run\n".encode(encoding))
    with pytest.raises(InputError, match=f"is not UTF-8 text .*{shown}.*save it as UTF-8"):
        read_table(path)


def test_a_file_named_npz_that_is_no_archive_is_refused_as_such_not_as_pickled_data(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert "is not an NPZ archive" in str(info.value) and "allow_pickle" not in str(info.value)


def test_npz_feature_names_saved_as_objects_say_how_to_save_them(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    np.savez(path, X=np.ones((3, 2)), feature_names=np.array(["a", "b"], dtype=object))
    with pytest.raises(InputError) as info:
        read_table(path)
    message = str(info.value)
    assert "'feature_names'" in message and "dtype=str" in message and "allow_pickle" not in message


@pytest.fixture
def no_training(monkeypatch):
    """Training fails the test: each refusal below must come before it."""

    def fit(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("trained before refusing --out")

    monkeypatch.setattr("dhag.estimator.DHAG.fit", fit)


def _rows(tmp_path: Path) -> Path:
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 7}\n" for i in range(50)))
    return path


def test_train_out_naming_a_folder_is_refused_before_training(tmp_path: Path, no_training, capsys) -> None:
    assert main(["train", "--data", str(_rows(tmp_path)), "--out", str(tmp_path), "--quiet"]) == 2
    assert "is a folder: name the model file to write" in capsys.readouterr().err


def test_train_out_under_a_file_is_refused_before_training(tmp_path: Path, no_training, capsys) -> None:
    rows = _rows(tmp_path)
    assert main(["train", "--data", str(rows), "--out", str(rows / "m.dhag"), "--quiet"]) == 2
    assert f"{str(rows)!r} is not a folder" in capsys.readouterr().err


def test_train_out_in_a_folder_it_may_not_write_is_refused_before_training(
    tmp_path: Path, no_training, monkeypatch, capsys
) -> None:
    # As root every folder is writable: the system's answer for a read-only one is given here.
    locked = tmp_path / "models"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    out = locked / "new" / "m.dhag"
    assert main(["train", "--data", str(_rows(tmp_path)), "--out", str(out), "--quiet"]) == 2
    assert f"cannot write in {str(locked)!r}" in capsys.readouterr().err
    assert not (locked / "new").exists()


def test_a_category_or_id_spelled_like_a_missing_value_is_read_as_written(tmp_path: Path) -> None:
    # pandas takes 'NA', 'None', 'null' for missing: a region code, a fault class, a tag would be lost,
    # refused as missing, or written back as an empty id.
    path = tmp_path / "rows.csv"
    path.write_text("a,region,tag\n1,NA,None\n2,EU,null\n3,,x\nNA,EU,y\n")
    frame, _ = read_table(path, text_columns=["region", "tag"])
    assert frame["region"].tolist()[:2] == ["NA", "EU"] and frame["tag"].tolist()[:2] == ["None", "null"]
    assert pd.isna(frame["region"].iloc[2]), "an empty cell is still missing"
    assert pd.isna(frame["a"].iloc[3]), "a number column reads 'NA' as missing, as before"


def test_an_npz_without_x_names_the_arrays_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    np.savez(path, data=np.ones((3, 2)), names=np.array(["a", "b"]))
    with pytest.raises(InputError, match=r"has no array named 'X' \(it holds 'data', 'names'\)"):
        read_table(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_utf16_file_is_refused_naming_its_encoding(tmp_path: Path, encoding: str, capsys) -> None:
    # Excel's "Unicode text" and PowerShell's Out-File write UTF-16; without its byte-order mark too.
    path = tmp_path / "rows.csv"
    path.write_bytes("flow,temp\r\n1.5,2\r\n3,4\r\n".encode(encoding))
    with pytest.raises(InputError, match=r"is not UTF-8 text but UTF-(16|32) .*save it as UTF-8") as info:
        read_table(path)
    assert "\x00" not in str(info.value)
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "m.dhag")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "UTF-" in err and "Traceback" not in err


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_excels_separator_line_is_refused_saying_to_delete_it(tmp_path: Path, sep: str) -> None:
    # Excel reads a first line 'sep=;' as the separator to split by; pandas would take it for the header.
    path = tmp_path / "rows.csv"
    path.write_text(f"sep={sep}\nflow{sep}temp\n1.5{sep}2\n3{sep}4\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    said = str(info.value)
    assert f"its first line, {f'sep={sep}'!r}, is Excel's line naming the separator" in said
    assert "delete that line" in said and "one column named" not in said and "\n" not in said
    assert ("write the file with ','" in said) is (sep != ",")
