"""DHAG as scikit-learn code calls it: ``fit_transform``, and ``random_state`` given as a generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
from plant_data import normal


def test_fit_transform_is_fit_then_transform_and_takes_y(quick_model, rng) -> None:
    # A Pipeline's non-final steps, and scikit-learn users, call fit_transform: DHAG has transform, but
    # fit_transform raised AttributeError.
    rows = pd.DataFrame(normal(rng, 300), columns=[f"s{i}" for i in range(normal(rng, 1).shape[1])])
    rows["site"] = np.where(np.arange(300) % 3 == 0, "north", "south")
    y = np.zeros(300, dtype=int)
    y[:5] = 1
    model = quick_model(categorical=["site"])
    matrix = model.fit_transform(rows, y)
    assert model.training_["n_known_anomalies"] == 5
    expected = quick_model(categorical=["site"]).fit(rows, y).transform(rows)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(matrix, model.transform(rows))
    numeric = rows.drop(columns="site").to_numpy()
    np.testing.assert_array_equal(
        quick_model().fit_transform(numeric), quick_model().fit(numeric).transform(numeric)
    )
