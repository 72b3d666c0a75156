"""Columns named by tuples (a frame's MultiIndex levels, a mapping keyed by tuples) are refused with how
to join them into names: a model's features are names a user chose, and text a file can hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import InputError


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(200, 2)), columns=["flow", "temp"])
    frame.columns = pd.MultiIndex.from_tuples([("pump", "flow"), ("pump", "temp")])
    return frame


def test_multiindex_columns_are_refused_by_fit_saying_how_to_name_them(quick_model, rng) -> None:
    # They trained features named "('pump', 'flow')", which no CSV header or record names.
    with pytest.raises(InputError) as refused:
        quick_model().fit(_frame(rng))
    message = str(refused.value)
    assert "MultiIndex columns" in message and "('pump', 'flow')" in message
    assert (
        "'pump_flow'" in message
        and "frame.columns = ['_'.join(map(str, c)) for c in frame.columns]" in message
    )
    frame = _frame(rng)
    frame.columns = ["_".join(map(str, c)) for c in frame.columns]
    assert quick_model().fit(frame).feature_names_in_ == ["pump_flow", "pump_temp"]


def test_multiindex_columns_and_tuple_keys_are_refused_at_scoring(quick_model, rng) -> None:
    model = quick_model().fit(pd.DataFrame(rng.normal(size=(200, 2)), columns=["a", "b"]))
    with pytest.raises(InputError, match="MultiIndex columns"):
        model.decision_function(_frame(rng))
    with pytest.raises(InputError, match=r"a mapping keyed by tuples names a column \('p', 'a'\)"):
        model.decision_function({("p", "a"): np.zeros(2), ("p", "b"): np.zeros(2)})
