"""True/False for a numeric feature: 1 and 0 where training saw a flag there, refused where it saw
other numbers (a comparison handed over for the values it compares)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import InputError


def _frame(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"flow": rng.normal(20.0, 5.0, n), "on": rng.random(n) > 0.5})


def test_a_bool_column_for_a_feature_trained_on_other_numbers_is_refused_naming_it(quick_model, rng) -> None:
    # It was scored as 0 and 1, z-scored with the flow's mean of 20: a score that meant nothing.
    model = quick_model().fit(_frame(rng))
    rows = _frame(rng, 5)
    for flags in (
        rows["flow"] > 20,
        (rows["flow"] > 20).astype("boolean"),
        (rows["flow"] > 20).astype(object),
    ):
        with pytest.raises(InputError) as refused:
            model.decision_function(rows.assign(flow=flags))
        message = str(refused.value)
        assert message.startswith("Feature 'flow' holds True/False, but training saw numbers from ")
        assert "(a bool is the number 1 or 0)" in message
    with pytest.raises(InputError, match="Feature 'x0' holds True/False"):
        quick_model().fit(rng.normal(size=(300, 2))).decision_function(rng.normal(size=(4, 2)) > 0)


def test_a_flag_trained_from_bools_or_from_0_and_1_scores_either_alike(quick_model, rng) -> None:
    frame = _frame(rng)
    rows = _frame(rng, 8)
    for trained in (frame, frame.assign(on=frame["on"].astype(float))):
        model = quick_model().fit(trained)
        np.testing.assert_array_equal(
            model.decision_function(rows), model.decision_function(rows.assign(on=rows["on"].astype(int)))
        )
