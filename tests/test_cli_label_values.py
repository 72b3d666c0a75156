"""``dhag train --label-column`` over a column of text: ``--anomaly-value`` and ``--normal-value`` say
which values are known anomalies; without them the column's values are named."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import load_model
from dhag.cli import main
from dhag.exceptions import InputError
from dhag.io import read_table
from dhag.labelvalues import LabelValues

# KDD Cup writes its classes with a full stop: 'normal.' and one name per attack.
_KDD = ["normal."] * 6 + ["smurf.", "normal.", "neptune.", "normal.", "smurf."]


def _write(folder: Path, suffix: str, labels: list[str]) -> Path:
    path = folder / f"labelled{suffix}"
    a = np.arange(len(labels), dtype=float)
    if suffix == ".npz":
        np.savez(path, X=np.c_[a, a % 7], feature_names=np.array(["a", "b"]), lab=np.array(labels))
    else:
        frame = pd.DataFrame({"a": a, "b": a % 7, "lab": labels})
        frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    return path


def _train(data: Path, folder: Path, *options: str) -> int:
    argv = ["train", "--data", str(data), "--out", str(folder / "m.dhag"), "--label-column", "lab"]
    return main([*argv, "--device", "cpu", "--max-epochs", "1", "--quiet", *options])


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_a_text_label_column_is_refused_naming_its_values_and_the_options(
    tmp_path: Path, capsys, suffix: str
) -> None:
    # It said "must hold only 0 and 1. Got 'normal.' (row 0, ... and 10 more)": nothing of the column's
    # other values, nor of a way to train on it but to rewrite the file.
    assert _train(_write(tmp_path, suffix, _KDD * 20), tmp_path) == 2
    said = capsys.readouterr().err
    assert said.startswith(
        "dhag train: error: Label column 'lab' holds text, not 0 and 1: 'normal.' (160 rows), 'smurf.' "
        "(40 rows), 'neptune.' (20 rows). Train with --normal-value normal. to take every other value for a "
        "known anomaly, or name the values of known anomalies with --anomaly-value VALUE"
    )
    assert said.endswith("; each may be given more than once, and values are compared exactly as written.\n")
    assert not (tmp_path / "m.dhag").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_anomaly_values_mark_their_rows_and_every_other_value_normal(tmp_path: Path, suffix: str) -> None:
    data = _write(tmp_path, suffix, _KDD * 20)
    values = LabelValues(anomaly=("smurf.", "neptune."))
    _, labels = read_table(data, label_column="lab", label_values=values)
    assert labels.tolist() == [int(v in ("smurf.", "neptune.")) for v in _KDD * 20]
    assert _train(data, tmp_path, "--anomaly-value", "smurf.", "--anomaly-value", "neptune.") == 0
    model = load_model(tmp_path / "m.dhag")
    assert model.training_["n_known_anomalies"] == 60
    assert model.metadata_["label_column"] == "lab"
    assert model.metadata_["anomaly_values"] == ["smurf.", "neptune."]


def test_normal_values_mark_their_rows_and_every_other_value_a_known_anomaly(tmp_path: Path) -> None:
    data = _write(tmp_path, ".csv", _KDD * 20)
    assert _train(data, tmp_path, "--normal-value", "normal.") == 0
    model = load_model(tmp_path / "m.dhag")
    assert model.training_["n_known_anomalies"] == 60
    assert model.metadata_["normal_values"] == ["normal."]
    assert "anomaly_values" not in model.metadata_


def test_values_are_compared_as_written_so_numbers_keep_their_text(tmp_path: Path) -> None:
    # '01' and '1' are two classes as written; pandas, left to guess, would read both as the number 1.
    data = tmp_path / "coded.csv"
    data.write_text("a,lab\n" + "".join(f"{i},{['0', '01', '1'][i % 3]}\n" for i in range(30)))
    _, labels = read_table(data, label_column="lab", label_values=LabelValues(anomaly=("01",)))
    assert labels.tolist() == [int(i % 3 == 1) for i in range(30)]


@pytest.mark.parametrize(
    ("given", "near"),
    [
        ("Attack", "; 'Attack' is 'attack' in another case."),
        ("atack", "; 'atack' is near 'attack'."),
        ("intrusion", "."),
    ],
)
def test_a_value_the_column_never_holds_is_refused_naming_the_values_it_holds(
    tmp_path: Path, capsys, given: str, near: str
) -> None:
    # A misspelt value would have trained with no known anomaly at all.
    data = _write(tmp_path, ".csv", (["normal"] * 9 + ["attack"]) * 10)
    assert _train(data, tmp_path, "--anomaly-value", "attack", "--anomaly-value", given) == 2
    assert capsys.readouterr().err == (
        f"dhag train: error: --anomaly-value {given!r} is not a value of label column 'lab', which holds "
        f"'normal' (90 rows), 'attack' (10 rows){near} Values are compared exactly as written, case and "
        "spaces included.\n"
    )
    assert not (tmp_path / "m.dhag").exists()


def test_a_row_without_a_label_is_still_refused_at_its_line(tmp_path: Path, capsys) -> None:
    labels = ["no"] * 20 + ["yes"] * 2
    labels[5] = ""
    assert _train(_write(tmp_path, ".csv", labels), tmp_path, "--anomaly-value", "yes") == 2
    assert capsys.readouterr().err == (
        "dhag train: error: Label column 'lab' must hold a label in every row. Got no label (row 5, line 7 "
        "of labelled.csv, which is empty).\n"
    )


def test_the_value_options_need_a_label_column_and_exclude_each_other(tmp_path: Path, capsys) -> None:
    argv = ["train", "--data", str(_write(tmp_path, ".csv", ["no", "yes"] * 10)), "--out", "m.dhag"]
    assert main([*argv, "--quiet", "--anomaly-value", "yes"]) == 2
    assert capsys.readouterr().err == (
        "dhag train: error: --anomaly-value names a value of the label column, and no --label-column is "
        "given: name the column that holds the labels.\n"
    )
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--label-column", "lab", "--anomaly-value", "yes", "--normal-value", "no"])
    assert stopped.value.code == 2
    assert "argument --normal-value: not allowed with argument --anomaly-value" in capsys.readouterr().err


def test_a_zero_one_column_reads_as_before_with_or_without_the_options(tmp_path: Path) -> None:
    data = tmp_path / "numbers.csv"
    data.write_text("a,lab\n" + "".join(f"{i},{int(i % 10 == 0)}\n" for i in range(30)))
    _, plain = read_table(data, label_column="lab")
    _, named = read_table(data, label_column="lab", label_values=LabelValues(anomaly=("1",)))
    assert plain.tolist() == named.tolist() == [int(i % 10 == 0) for i in range(30)]


@pytest.mark.parametrize(
    ("labels", "offered"),
    [
        (["B"] * 4 + ["A"], "Train with --anomaly-value A to take every other value for normal"),
        (["A", "B", "C"], "Name the values of known anomalies with --anomaly-value VALUE"),
        (["BENIGN", "DDoS", "PortScan"], "Train with --normal-value BENIGN to take every other value"),
    ],
)
def test_the_refusal_offers_a_value_of_the_column_where_one_stands_out(
    tmp_path: Path, labels: list[str], offered: str
) -> None:
    data = _write(tmp_path, ".csv", labels * 4)
    with pytest.raises(InputError, match=re.escape(offered)):
        read_table(data, label_column="lab")


def test_the_help_says_values_are_compared_as_written(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for option in ("--anomaly-value VALUE", "--normal-value VALUE"):
        assert f"{option} a value of --label-column" in help_text
    assert help_text.count("compared exactly as written, case and spaces included") == 2


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_a_label_or_id_column_named_in_another_case_is_said_to_be_one(
    tmp_path: Path, capsys, suffix: str
) -> None:
    # It said "Label column 'Lab' is not in 'labelled.csv' (columns: ['a', 'b', 'lab'])", and of an NPZ
    # "has no array named 'Lab'", where --categorical names the column it is near.
    data = _write(tmp_path, suffix, ["0", "1"] * 10)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]
    assert main([*argv, "--label-column", "Lab"]) == 2
    said = capsys.readouterr().err
    among = "'X', 'feature_names', 'lab'" if suffix == ".npz" else "'a', 'b', 'lab'"
    assert f"{among}): 'Lab' is 'lab' in another case; names must match exactly.\n" in said
    assert main([*argv, "--id-columns", "A, zone"]) == 2
    columns = "'a', 'b'" if suffix == ".npz" else "'a', 'b', 'lab'"  # an NPZ's label is an array beside X
    assert capsys.readouterr().err == (
        f"dhag train: error: --id-columns names 'A', 'zone', not among the columns of {str(data)!r} "
        f"({columns}): 'A' is 'a' in another case; names must match exactly.\n"
    )


@pytest.mark.parametrize("suffix", [".csv", ".npz"])
def test_classes_written_as_numbers_are_refused_offering_normal_value_zero(
    tmp_path: Path, suffix: str
) -> None:
    # A data set that numbers its kinds of fault (0 normal) was refused as any other value, "Got 2".
    codes = [0] * 8 + [2, 3] + [0] * 10
    data = tmp_path / f"coded{suffix}"
    if suffix == ".csv":
        data.write_text("a,lab\n" + "".join(f"{i},{c}\n" for i, c in enumerate(codes)))
    else:  # an NPZ's float labels: 2.0 is the class 2
        np.savez(
            data, X=np.arange(20.0).reshape(-1, 1), feature_names=np.array(["a"]), lab=np.array(codes, float)
        )
    with pytest.raises(InputError) as refused:
        read_table(data, label_column="lab")
    assert str(refused.value).endswith(
        "It holds '0' (18 rows), '2' (1 row), '3' (1 row): --normal-value 0 takes every other value for a "
        "known anomaly, or --anomaly-value VALUE names those that are."
    )
    _, labels = read_table(data, label_column="lab", label_values=LabelValues(normal=("0",)))
    assert labels.tolist() == [int(c != 0) for c in codes]
    _, labels = read_table(data, label_column="lab", label_values=LabelValues(anomaly=("3",)))
    assert labels.tolist() == [int(c == 3) for c in codes]


def test_values_that_leave_too_few_normal_rows_are_named_in_the_refusal(tmp_path: Path, capsys) -> None:
    # It said the rows were marked "as known anomalies (1)", a value the column does not hold.
    data = _write(tmp_path, ".csv", ["normal", "attack"] * 10)
    assert _train(data, tmp_path, "--anomaly-value", "normal", "--anomaly-value", "attack") == 2
    assert capsys.readouterr().err == (
        "dhag train: error: Need at least 2 normal rows to train. Got 0: --label-column 'lab' marks 20 of "
        "the 20 rows as known anomalies (--anomaly-value 'normal', 'attack').\n"
    )


def test_a_categorical_label_column_of_a_parquet_file_names_the_values_it_holds(tmp_path: Path) -> None:
    # A category no row holds was named among the column's values, "'unused' (0 rows)", and given as a
    # value it passed for a typo of itself: "'unused' is 'unused' ".
    data = tmp_path / "labelled.parquet"
    labels = pd.Categorical(["normal", "attack"] * 5, categories=["normal", "attack", "unused"])
    pd.DataFrame({"a": np.arange(10.0), "lab": labels}).to_parquet(data)
    with pytest.raises(InputError) as refused:
        read_table(data, label_column="lab", label_values=LabelValues(anomaly=("unused",)))
    assert str(refused.value) == (
        "--anomaly-value 'unused' is not a value of label column 'lab', which holds 'normal' (5 rows), "
        "'attack' (5 rows). Values are compared exactly as written, case and spaces included."
    )
    _, y = read_table(data, label_column="lab", label_values=LabelValues(anomaly=("attack",)))
    assert y.tolist() == [0, 1] * 5
