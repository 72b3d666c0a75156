"""DHAG as scikit-learn code calls it: ``fit_transform``, and ``random_state`` given as a generator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plant_data import normal

from dhag import ParameterError, load_model, read_manifest


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


@pytest.mark.parametrize(
    "make", [np.random.RandomState, np.random.default_rng], ids=["RandomState", "Generator"]
)
def test_a_numpy_generator_as_random_state_draws_the_seed_at_fit(quick_model, rng, make, tmp_path) -> None:
    # scikit-learn's convention: random_state may be a RandomState (or a Generator). Both were refused:
    # "The 'random_state' parameter of DHAG must be None or an int in [0, 4294967295]".
    rows = normal(rng, 300)
    generator = make(5)
    model = quick_model(random_state=generator).fit(rows)
    seed = model.training_["seed"]
    assert type(seed) is int and 0 <= seed < 2**32
    assert model.random_state is generator  # the setting is left as given
    as_int = quick_model(random_state=seed).fit(rows)
    np.testing.assert_array_equal(model.decision_function(rows[:20]), as_int.decision_function(rows[:20]))
    # A generator seeded alike gives the same model; each fit consumes from it, so a second one differs.
    again = quick_model(random_state=make(5)).fit(rows)
    assert again.training_["seed"] == seed
    assert quick_model(random_state=generator).fit(rows).training_["seed"] != seed
    # The artifact names the seed the model trained from, which trains it again.
    path = model.save(tmp_path / "m.dhag")
    assert read_manifest(path)["settings"]["random_state"] == seed
    loaded = load_model(path)
    assert loaded.random_state == seed and loaded.training_["seed"] == seed
    assert model.random_state is generator


def test_a_seed_of_another_kind_is_refused_naming_the_generators_too(quick_model, rng) -> None:
    with pytest.raises(
        ParameterError, match=r"None or an int in \[0, 4294967295\], or a numpy RandomState or Generator"
    ):
        quick_model(random_state=np.random.SeedSequence(1)).fit(normal(rng, 100))


def test_fit_predict_passes_fit_s_keywords_on_as_fit_transform_does(quick_model, rng) -> None:
    # fit_predict(X, on_epoch=...) raised TypeError, where scikit-learn's fit_predict passes **kwargs to fit.
    rows = normal(rng, 300)
    epochs: list[dict] = []
    labels = quick_model().fit_predict(rows, on_epoch=lambda record, score: epochs.append(record))
    assert len(epochs) >= 2
    np.testing.assert_array_equal(labels, quick_model().fit(rows).labels_)
