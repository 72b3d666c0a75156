"""Numbers written as text. A file's text is read as a CSV's is: an NPZ archive's ``X`` of strings (all
np.savez can hold of a table with a column of categories) has its undeclared columns of numbers read as
numbers. Text handed to the library in memory is never taken for numbers: it is refused saying that the
values are numbers stored as text and how to convert them, not with the hint to declare a category."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import load_model
from dhag.cli import main
from dhag.exceptions import InputError
from dhag.io import read_table
from dhag.preprocessing import Preprocessor


def _table(rows: int = 300) -> tuple[list[str], np.ndarray]:
    """A table of two numeric columns and a categorical one, as the text array np.savez keeps of it."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    modes = np.where(np.arange(rows) % 2, "run", "idle")
    return ["a", "b", "mode"], np.column_stack([a.astype(str), b.astype(str), modes])


def test_an_npz_of_text_reads_its_columns_of_numbers_as_a_csv_does(tmp_path: Path) -> None:
    names, X = _table()
    npz, csv = tmp_path / "rows.npz", tmp_path / "rows.csv"
    np.savez(npz, X=X, feature_names=np.array(names))
    pd.DataFrame(X, columns=names).to_csv(csv, index=False)
    from_npz, _ = read_table(npz, text_columns=["mode"])
    from_csv, _ = read_table(csv, text_columns=["mode"])
    assert from_npz["a"].dtype == np.float64 and from_npz["b"].dtype == np.float64
    for name in names:
        assert from_npz[name].tolist() == from_csv[name].tolist()


def test_a_declared_category_of_an_npz_stays_text_as_written(tmp_path: Path) -> None:
    npz = tmp_path / "rows.npz"
    X = np.array([["1.5", "01"], ["2.5", "02"], ["3.5", "01"]])
    np.savez(npz, X=X, feature_names=np.array(["a", "zone"]))
    frame, _ = read_table(npz, text_columns=["zone"])
    assert frame["zone"].tolist() == ["01", "02", "01"] and frame["a"].tolist() == [1.5, 2.5, 3.5]


def test_train_and_score_an_npz_of_text_with_a_categorical_column(tmp_path: Path, capsys) -> None:
    names, X = _table()
    data, model = tmp_path / "rows.npz", tmp_path / "m.dhag"
    np.savez(data, X=X, feature_names=np.array(names))
    argv = ["train", "--data", str(data), "--out", str(model), "--categorical", "mode", "--device", "cpu"]
    # Before: "Feature 'a' must be numeric ... Got dtype <U... A column of categories must be declared".
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0, capsys.readouterr().err
    assert load_model(model).preprocessor_.categorical == ("mode",)
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(data)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 301


def test_a_word_in_an_npz_column_of_numbers_is_named_as_a_bad_cell(tmp_path: Path, capsys) -> None:
    names, X = _table()
    X[7, 1] = "broken"
    data = tmp_path / "rows.npz"
    np.savez(data, X=X, feature_names=np.array(names))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--categorical", "mode"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Feature 'b' must be numeric" in err
    assert "299 of its 300 values are, 1 is not ('broken' at row 7" in err


@pytest.mark.parametrize(
    "X",
    [
        np.array([["1.5", "2"], ["3", "4"], ["5", "6"]]),
        np.array([["1.5", "2"], ["3", "4"], ["5", "6"]], dtype=object),
        pd.DataFrame({"x0": ["1.5", "3", "5"], "x1": [2.0, 4.0, 6.0]}),
        {"x0": np.array(["1.5", "3", "5"]), "x1": np.array([2.0, 4.0, 6.0])},
    ],
    ids=["str array", "object array", "frame", "mapping"],
)
def test_numbers_stored_as_text_in_memory_are_told_to_be_converted(X) -> None:  # noqa: ANN001
    with pytest.raises(InputError) as info:
        Preprocessor().fit(X)
    said = str(info.value)
    assert said.startswith("Feature 'x0' must be numeric")
    # Before: only "A column of categories must be declared: categorical=['x0'] ...".
    assert "Its values are numbers stored as text ('1.5' at row 0): convert them to numbers" in said
    assert "astype(float)" in said


def test_numbers_stored_as_text_when_scoring_are_told_to_be_converted_too() -> None:
    pre = Preprocessor().fit(np.array([[1.5, 2.0], [3.0, 4.0]]))
    with pytest.raises(InputError, match=r"numbers stored as text \('3' at row 0\)") as info:
        pre.transform(np.array([["3", "4"]], dtype=object))
    assert "categorical" not in str(info.value)


def test_an_npz_of_bytes_is_read_as_its_text(tmp_path: Path) -> None:
    # np.savez keeps text encoded as bytes (dtype S) as such: its numbers were refused with the hint to
    # declare them categorical, and byte names read "b'a'".
    names, X = _table()
    as_text, as_bytes = tmp_path / "text.npz", tmp_path / "bytes.npz"
    np.savez(as_text, X=X, feature_names=np.array(names), label=np.array(["0"] * len(X)))
    encoded = np.char.encode(X, "utf-8")
    np.savez(as_bytes, X=encoded, feature_names=np.char.encode(names), label=np.array([b"0"] * len(X)))
    frame, labels = read_table(as_bytes, label_column="label", text_columns=["mode"])
    expected, _ = read_table(as_text, label_column="label", text_columns=["mode"])
    assert list(frame.columns) == names and labels.tolist() == [0] * len(X)
    pd.testing.assert_frame_equal(frame, expected)


def test_an_npz_of_bytes_that_are_not_utf8_is_refused_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "latin1.npz"
    X = np.array([[b"1.5", b"caf\xe9"], [b"2.5", b"run"]])
    np.savez(path, X=X, feature_names=np.array(["a", "mode"]))
    said = r"'X' holds bytes that are not UTF-8 text \(b'caf\\xe9' at row 0, column 1\)"
    with pytest.raises(InputError, match=said):
        read_table(path, text_columns=["mode"])


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_an_empty_category_is_missing_in_an_npz_as_in_a_csv(tmp_path: Path, capsys, suffix: str) -> None:
    # An NPZ's empty string was the category "" where the same table as a CSV was refused as missing.
    X = np.array([["1.5", "run"], ["2.5", ""], ["3.5", "idle"]] * 50)
    path = tmp_path / f"rows{suffix}"
    if suffix == ".npz":
        np.savez(path, X=X, feature_names=np.array(["a", "mode"]))
    else:
        pd.DataFrame(X, columns=["a", "mode"]).to_csv(path, index=False)
    argv = ["train", "--data", str(path), "--out", str(tmp_path / "m.dhag"), "--categorical", "mode"]
    assert main([*argv, "--max-epochs", "1", "--quiet", "--device", "cpu"]) == 2
    assert "Categorical feature 'mode' has 50 missing value(s) (first at row 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "labels",
    [
        pd.Series(["0"] * 45 + ["1"] * 5),  # a label column read as text (pandas' str dtype)
        np.array(["0"] * 45 + ["1"] * 5),
        np.array(["0.0"] * 45 + ["1.0"] * 5, dtype=object),
    ],
)
def test_labels_of_zero_and_one_as_text_are_said_to_be_text_to_convert(labels) -> None:
    from dhag.splits import known_anomaly_mask

    with pytest.raises(InputError) as info:
        known_anomaly_mask(labels, 50)
    said = str(info.value)
    # It said "Got '0' at row 0 (and 49 more)": a '0' refused as no 0, with nothing on why.
    # Then "convert them, y.astype(int)", which no list has and which refuses '1.0' (int('1.0') fails).
    assert "are text" in said and "convert them, np.asarray(y, dtype=float)." in said, said
    assert "and 49 more" not in said and "np.str_" not in said
    assert known_anomaly_mask(np.asarray(labels, dtype=float), 50).sum() == 5
    assert known_anomaly_mask(np.asarray(list(labels), dtype=float), 50).sum() == 5  # a list too
