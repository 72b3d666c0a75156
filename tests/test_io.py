"""read_table on files as they arrive: headers that do not name every column once, rows wider than
their header, NPZ archives whose parts disagree, and label columns that are not 0/1."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import InputError
from dhag.cli import main
from dhag.io import read_table


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2,3\n4,5,6\n",  # every row one field wider: pandas would make the first field the index
        "a,b\n1,2\n3,4\n5,6,7\n",  # only a later row: pandas' own error, with a line break at its end
    ],
)
def test_rows_wider_than_the_header_are_refused_not_shifted_under_other_names(tmp_path, text: str) -> None:
    path = _write(tmp_path / "wide.csv", text)
    with pytest.raises(InputError, match="Every row must hold as many fields as the header names") as caught:
        read_table(path)
    assert "\n" not in str(caught.value)  # one line: the CLI prints it as its error


def test_a_wide_header_is_checked_in_time_linear_in_its_names(tmp_path) -> None:
    # Each name was counted against the whole header: 20,000 sensors took 11 s to check, 0.9 s to read.
    names = [f"s{i}" for i in range(40_000)] + ["s7"]
    path = _write(tmp_path / "wide.csv", ",".join(names) + "\n" + ",".join("1" * len(names)) + "\n")
    # Processor time, not wall time: a busy machine stretches both readings unevenly. The check reads
    # the file more than once (about 2-3 times pandas' read here); a check quadratic in the names took
    # over 20 times pandas' read of this header.
    started = time.process_time()
    pd.read_csv(path)
    reading = time.process_time() - started
    started = time.process_time()
    with pytest.raises(InputError, match="header names 's7' more than once"):
        read_table(path)
    assert time.process_time() - started < 8 * reading + 2.0


def test_a_header_naming_a_column_twice_is_refused(tmp_path) -> None:
    path = _write(tmp_path / "dup.csv", "a,b,a\n1,2,3\n4,5,6\n")
    with pytest.raises(InputError, match="header names 'a' more than once"):
        read_table(path)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (",a,b\n0,1,2\n1,3,4\n", 1),  # a frame's index written with it (to_csv without index=False)
        ("a,b,\n1,2,\n3,4,\n", 3),  # a trailing comma on every line
    ],
)
def test_a_column_without_a_name_is_refused_naming_its_position(tmp_path, text: str, column: int) -> None:
    path = _write(tmp_path / "unnamed.csv", text)
    with pytest.raises(InputError, match=f"column {column} of the header has no name"):
        read_table(path)


def test_a_well_formed_csv_with_a_byte_order_mark_and_quoted_numbers_reads_as_numbers(tmp_path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b'\xef\xbb\xbfa,"b"\n"1.5",2\n3,"4"\n')
    frame, _ = read_table(path)
    assert list(frame.columns) == ["a", "b"] and frame.to_numpy().tolist() == [[1.5, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (np.array("abc"), "Got shape ()."),
        (np.array(["a", "b"]), "Got shape (2,)."),
        (np.array([["a", "b", "c"]]), "Got shape (1, 3)."),
    ],
)
def test_npz_feature_names_that_do_not_fit_x_are_refused(tmp_path, names: np.ndarray, message: str) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, X=np.zeros((4, 3)), feature_names=names)
    with pytest.raises(InputError, match="'feature_names' must be a 1-D array of 3 names") as caught:
        read_table(path)
    assert str(caught.value).endswith(message)


def test_npz_label_that_is_also_a_feature_of_x_is_refused_not_overwritten(tmp_path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, X=np.ones((4, 2)), feature_names=np.array(["a", "label"]), label=np.zeros(4))
    with pytest.raises(InputError, match="'label' is both a feature of 'X' and an array of its own"):
        read_table(path, label_column="label")


def test_npz_label_of_another_length_is_refused_naming_both_lengths(tmp_path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, X=np.ones((4, 2)), label=np.zeros(3))
    with pytest.raises(
        InputError, match=r"'label' must be 1-D with one value per row of 'X' \(4\). Got shape \(3,\)"
    ):
        read_table(path, label_column="label")


@pytest.mark.parametrize(
    ("values", "shown"), [([0, "yes"], "'yes'"), ([0, 2], "2"), ([0.0, None], "no label")]
)
def test_labels_other_than_0_and_1_are_refused_naming_one(tmp_path, values: list, shown: str) -> None:
    path = tmp_path / "l.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": values * 2}).to_csv(path, index=False)
    with pytest.raises(
        InputError, match=re.escape(f"must hold only 0 and 1. Got {shown} (row 1, and 1 more).")
    ):
        read_table(path, label_column="y")


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_labels_of_minus_one_and_one_are_said_to_be_scikit_learns(tmp_path, suffix: str) -> None:
    # They were refused as any other value; fit's y of them says what they are, and so does the file now.
    y, X = np.array([1, 1, -1, 1]), np.ones((4, 1))
    path = tmp_path / f"l{suffix}"
    if suffix == ".csv":
        pd.DataFrame({"a": X[:, 0], "y": y}).to_csv(path, index=False)
    else:
        np.savez(path, X=X, feature_names=np.array(["a"]), y=y)
    with pytest.raises(InputError) as refused:
        read_table(path, label_column="y")
    assert str(refused.value).startswith("Label column 'y' must hold only 0 and 1. Got -1 (row 2")
    assert str(refused.value).endswith(
        " -1 and 1 are scikit-learn's outlier labels (-1 an outlier), not these: write 1 for a known anomaly "
        "and 0 for every other row, or train with --anomaly-value=-1."
    )
    pd.DataFrame({"a": X[:, 0], "y": [0, 2, -1, 1]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InputError) as refused:  # other values beside -1: no such word
        read_table(tmp_path / "other.csv", label_column="y")
    assert "scikit-learn" not in str(refused.value)


def test_a_label_column_declared_categorical_is_refused_as_such(tmp_path) -> None:
    path = tmp_path / "l.csv"
    pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="'y' is the label column; it cannot also be a feature"):
        read_table(path, label_column="y", text_columns=["y"])


def test_a_data_path_in_a_symlink_loop_says_so(tmp_path, capsys) -> None:
    loop = tmp_path / "loop.csv"
    os.symlink(loop, loop)
    assert main(["train", "--data", str(loop), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    assert "Too many levels of symbolic links" in capsys.readouterr().err


@pytest.mark.parametrize("blank", ["", "  "])
def test_npz_feature_names_with_a_blank_name_are_refused_naming_its_position(tmp_path, blank: str) -> None:
    # As a CSV's header: a model would keep a feature no CSV's header can name.
    path = tmp_path / "x.npz"
    np.savez(path, X=np.ones((4, 3)), feature_names=np.array(["flow", blank, "temp"]))
    with pytest.raises(InputError, match=r"'feature_names' has no name at position 1 \(of 0 to 2\)"):
        read_table(path)


@pytest.mark.parametrize(
    ("X", "said"),
    [
        (
            np.arange(4.0),
            r"Got shape \(4,\): save one feature's values as X.reshape\(-1, 1\), or one row as ",
        ),
        (np.float64(3.0), r"Got shape \(\): save a 2-D array, one row per reading"),
        (np.ones((2, 3, 4)), r"Got shape \(2, 3, 4\): save a 2-D array, one row per reading"),
        (
            np.array([(1.0, 2.0)], dtype=[("flow", float), ("temp", float)]),
            r"a structured array \(fields 'flow', 'temp'\).*structured_to_unstructured",
        ),
    ],
)
def test_an_npz_x_that_is_not_2d_is_refused_saying_how_to_save_it(tmp_path, X: np.ndarray, said: str) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, X=X)
    with pytest.raises(InputError, match=r"Array 'X' in '.*x.npz' must be 2-D, rows by features.*" + said):
        read_table(path)
