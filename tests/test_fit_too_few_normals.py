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
