"""Refusals of input that must reach every way in (DHAG.fit, dhag train on each file type) and say
what is really wrong: the column's type, the byte and line that are not UTF-8, text that is text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG, InputError
from dhag.cli import main


def _typed(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(float(n)), "line": pd.Categorical([0, 1, 2] * (n // 3))})


def test_fit_refuses_a_column_typed_categorical_but_not_declared() -> None:
    with pytest.raises(InputError, match=r"'line' is typed categorical.*--categorical line"):
        DHAG(max_epochs=1, progress=False).fit(_typed())


def test_fit_with_known_anomalies_refuses_it_too() -> None:
    with pytest.raises(InputError, match=r"'line' is typed categorical"):
        DHAG(max_epochs=1, progress=False).fit(_typed(), [1] + [0] * 59)


def test_train_on_parquet_refuses_an_undeclared_category_column_and_takes_a_declared_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Parquet file keeps pandas' category dtype for categories of text (numbers read back as numbers).
    data = tmp_path / "rows.parquet"
    frame = _typed()
    frame["line"] = frame["line"].cat.rename_categories(["l0", "l1", "l2"])
    frame.to_parquet(data)
    assert pd.read_parquet(data)["line"].dtype.name == "category"
    out = tmp_path / "m.dhag"
    base = ["train", "--data", str(data), "--out", str(out), "--quiet", "--max-epochs", "1"]
    assert main(base) == 2
    assert "'line' is typed categorical" in capsys.readouterr().err and not out.exists()
    assert main([*base, "--categorical", "line"]) == 0
    assert out.exists()
