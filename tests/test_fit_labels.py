"""fit's ``y`` as callers hand it: a pandas Series or a one-column frame beside a frame ``X``, or an
array of labels: matched to the rows of ``X`` as the caller meant, or refused saying how."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, normal

from dhag import InputError


@pytest.fixture
def table(rng) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.DataFrame(normal(rng, 120), columns=FEATURES, index=pd.RangeIndex(1000, 1120))
    labels = pd.Series(np.where(np.arange(120) < 5, 1, 0), index=frame.index, name="label")
    return frame, labels


def test_a_y_series_in_another_row_order_than_x_is_refused_saying_how_to_align_it(quick_model, table) -> None:
    # Read by position, a shuffled y marked other rows than the ones it names as anomalies.
    frame, labels = table
    shuffled = labels.sample(frac=1.0, random_state=1)
    with pytest.raises(InputError) as refused:
        quick_model().fit(frame, shuffled)
    said = str(refused.value)
    assert "index" in said and "y.loc[X.index]" in said and "y.to_numpy()" in said
    assert f"X's row 0 is {frame.index[0]}, y's {shuffled.index[0]}" in said


def test_a_y_series_indexed_apart_from_x_is_refused(quick_model, table) -> None:
    frame, labels = table
    with pytest.raises(InputError, match="index"):
        quick_model().fit(frame, labels.reset_index(drop=True))
    with pytest.raises(InputError, match="index"):
        quick_model().fit(frame, labels.reset_index(drop=True).to_frame())  # a one-column frame alike


def test_a_y_series_on_xs_index_or_by_position_marks_the_rows_it_names(quick_model, table) -> None:
    frame, labels = table
    shuffled = labels.sample(frac=1.0, random_state=1)
    aligned = quick_model().fit(frame, shuffled.loc[frame.index])
    assert aligned.training_["n_known_anomalies"] == 5
    by_position = quick_model().fit(frame, shuffled.to_numpy())  # an array has no index to check
    assert by_position.training_["n_known_anomalies"] == 5
    plain = frame.reset_index(drop=True)
    assert quick_model().fit(plain.to_numpy(), labels).training_["n_known_anomalies"] == 5


@pytest.mark.parametrize("shape", ["column", "frame"])
def test_a_y_of_one_column_is_refused_naming_how_to_make_it_one_value_per_row(
    quick_model, table, shape: str
) -> None:
    frame, labels = table
    y = labels.to_numpy().reshape(-1, 1) if shape == "column" else labels.to_frame()
    with pytest.raises(InputError) as refused:
        quick_model().fit(frame.to_numpy() if shape == "column" else frame, y)
    said = str(refused.value)
    assert "Got shape (120, 1)" in said and "df['label']" in said and "y.ravel()" in said


@pytest.mark.parametrize(
    "labels",
    [
        pd.array([False] * 10 + [None] + [True] * 39, dtype="boolean"),  # a nullable flag's gap
        pd.Series([0] * 10 + [pd.NA] + [1] * 39, dtype=object),
    ],
    ids=["boolean", "object"],
)
def test_a_gap_of_pandas_na_in_y_is_refused_as_a_missing_label(quick_model, rng, labels) -> None:
    with pytest.raises(InputError, match=r"only 0 .* and 1 .*\. Got a missing value at row 10\.$"):
        quick_model().fit(normal(rng, 50), labels)
