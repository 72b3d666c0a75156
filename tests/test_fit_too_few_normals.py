"""fit refuses a training set with fewer than two normal rows, and says where the rest went: to y's
known anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from dhag import DHAG, InputError


@pytest.mark.parametrize("normals", [0, 1])
def test_too_few_normal_rows_left_by_y_are_refused_naming_y(normals: int) -> None:
    # "Need at least 2 normal rows to train. Got 0." of a 100-row table: y marking every row a known
    # anomaly went unsaid.
    rows = np.random.default_rng(0).normal(size=(100, 3))
    y = np.r_[np.zeros(normals), np.ones(100 - normals)]
    with pytest.raises(
        InputError, match=rf"Got {normals}: y marks {100 - normals} of the 100 rows as known anomalies \(1\)"
    ):
        DHAG(max_epochs=1).fit(rows, y)


def test_one_row_is_refused_without_a_word_on_y() -> None:
    with pytest.raises(InputError, match=r"Need at least 2 normal rows to train\. Got 1\.$"):
        DHAG(max_epochs=1).fit(np.ones((1, 3)))


def test_dhag_train_names_the_label_column_that_leaves_too_few_normal_rows(tmp_path, capsys) -> None:
    from dhag.cli import main

    data = tmp_path / "rows.csv"
    data.write_text("a,b,label\n1,2,1\n2,3,1\n3,4,1\n4,4,0\n")
    assert (
        main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--label-column", "label"])
        == 2
    )
    err = capsys.readouterr().err
    assert "Got 1: --label-column 'label' marks 3 of the 4 rows as known anomalies (1)" in err
    assert "y marks" not in err and not (tmp_path / "m.dhag").exists()


@pytest.mark.parametrize(
    ("text", "label", "said"),
    [
        ("a,b\n1,2\n", None, "Got 1: 'rows.csv' holds only 1 row."),
        ("a,label\n1,0\n", "label", "Got 1: 'rows.csv' holds only 1 row."),
        (
            "a,label\n1,1\n",
            "label",
            "Got 0: 'rows.csv' holds only 1 row, which --label-column 'label' marks as a known anomaly (1).",
        ),
    ],
)
def test_dhag_train_on_a_file_of_one_row_says_it_holds_one(
    text: str, label: str | None, said: str, tmp_path, capsys, monkeypatch
) -> None:
    # Before: "Need at least 2 normal rows to train. Got 1." of the file's only row, and with a label
    # column "marks 0 of the 1 rows as known anomalies".
    from dhag.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.csv").write_text(text)
    labels = [] if label is None else ["--label-column", label]
    assert main(["train", "--data", "rows.csv", "--out", "m.dhag", *labels]) == 2
    err = capsys.readouterr().err
    assert err == f"dhag train: error: Need at least 2 normal rows to train. {said}\n"
    assert not (tmp_path / "m.dhag").exists()
