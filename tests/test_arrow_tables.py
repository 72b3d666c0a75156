"""A pyarrow Table or RecordBatch is a table of named columns: read by name, as a frame of them is."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from dhag import InputError

pa = pytest.importorskip("pyarrow")


def _frame(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"flow": rng.normal(size=n), "temp": rng.normal(50.0, 10.0, n)})


def test_a_table_is_scored_by_its_names_in_any_order(quick_model, rng, caplog) -> None:
    # It was read as an unnamed array: its columns by position, 'temp' scored as the flow, with a note
    # that an array has no names.
    model = quick_model().fit(_frame(rng))
    rows = _frame(rng, 6)
    expected = model.decision_function(rows)
    with caplog.at_level(logging.WARNING, logger="dhag"):
        for table in (
            pa.Table.from_pandas(rows[["temp", "flow"]]),
            pa.RecordBatch.from_pandas(rows[["temp", "flow"]]),
        ):
            np.testing.assert_array_equal(model.decision_function(table), expected)
    assert "no feature names" not in caplog.text


def test_fit_names_a_tables_features_and_its_dictionary_columns_need_declaring(quick_model, rng) -> None:
    # fit named them x0, x1, and refused categorical=['zone'] as no input feature.
    frame = _frame(rng).assign(zone=rng.choice(["a", "b"], 300))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    model = quick_model(categorical=["zone"]).fit(table)
    assert model.feature_names_in_ == ["flow", "temp", "zone"]
    np.testing.assert_array_equal(model.decision_function(table), model.decision_function(frame))
    with pytest.raises(InputError, match="'zone' is typed categorical"):
        quick_model().fit(table.set_column(2, "zone", table.column("zone").dictionary_encode()))
