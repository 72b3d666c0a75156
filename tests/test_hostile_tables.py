"""Tables a user may hand the library that look like data but would train a useless model or be read
wrongly: refused with a message that names the column and says what to do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import InputError, Preprocessor


def test_a_categorical_with_a_category_per_row_is_refused_as_an_identifier() -> None:
    frame = pd.DataFrame({"a": np.arange(500.0), "serial": [f"s{i}" for i in range(500)]})
    with pytest.raises(InputError) as info:
        Preprocessor(categorical=["serial"]).fit(frame)
    message = str(info.value)
    assert "'serial'" in message and "500 categories in 500 rows" in message and "--id-columns" in message


def test_many_categories_each_seen_often_are_kept() -> None:
    frame = pd.DataFrame({"a": np.arange(1000.0), "line": [f"l{i % 300}" for i in range(1000)]})
    pre = Preprocessor(categorical=["line"]).fit(frame)
    assert len(pre.categories_["line"]) == 300


def test_few_rows_with_distinct_categories_are_kept() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "mode": ["run", "idle", "clean"]})
    assert Preprocessor(categorical=["mode"]).fit(frame).output_names_[1:] == [
        "mode=clean",
        "mode=idle",
        "mode=run",
    ]
