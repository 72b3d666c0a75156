"""Settings as callers pass them: column lists given as one name, numpy numbers from a search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG, ParameterError, Preprocessor


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"flow": rng.normal(size=100), "site": rng.choice(["north", "south"], 100)})


@pytest.mark.parametrize("name", ["categorical", "passthrough", "feature_names"])
def test_a_column_list_given_as_one_name_is_refused_naming_the_list_it_meant(quick_model, name: str) -> None:
    # categorical="site" was read letter by letter: "The 'categorical' features 's', 'i', 't', 'e' are
    # not among the input features", and passthrough="b" passed through the column b by chance.
    with pytest.raises(
        ParameterError,
        match=rf"'{name}' parameter of DHAG must be (None or )?a list of column names.*\['site'\]",
    ):
        quick_model(**{name: "site"}).fit(_frame())
    with pytest.raises(ParameterError, match=r"'passthrough' must be a list of column names.*\['flow'\]"):
        Preprocessor(passthrough="flow")


def test_numpy_numbers_as_a_search_draws_them_train_the_model_their_python_numbers_do(
    quick_model, tmp_path
) -> None:
    # A search over np.arange(...) (ParameterGrid, ParameterSampler) sets np.int64, a grid np.float32:
    # max_epochs=np.int64(2) was refused as "must be an int >= 1. Got np.int64(2)".
    rows = np.random.default_rng(1).normal(size=(300, 3))
    ints = {"max_epochs": 2, "batch_size": 64, "latent_dim": 16, "encoder_layers": 2, "patience": 3}
    floats = {"lr": 0.004, "target_far": 0.05, "validation_fraction": 0.2, "k": 0.25}
    plain = quick_model(**ints, **floats, max_steps=50, contamination=None).fit(rows)
    drawn = quick_model(
        **{name: np.int64(value) for name, value in ints.items()},
        **{name: np.float64(value) for name, value in floats.items()},
        max_steps=np.int32(50),
    ).fit(rows)
    np.testing.assert_array_equal(drawn.decision_function(rows[:20]), plain.decision_function(rows[:20]))
    assert drawn.threshold_ == plain.threshold_
    assert DHAG.load(drawn.save(tmp_path / "drawn.dhag")).get_params()["max_epochs"] == 2
    single = quick_model(lr=np.float32(0.004), n_members=np.int64(2), snapshots=np.int64(1)).fit(rows)
    assert single.net_ is not None and single.decision_function(rows[:2]).dtype == np.float64
    with pytest.raises(ParameterError, match="'batch_size' parameter of DHAG must be an int >= 1"):
        quick_model(batch_size=np.int64(0)).fit(rows)
    with pytest.raises(ParameterError, match="'max_epochs' parameter of DHAG must be an int >= 1"):
        quick_model(max_epochs=np.float64(2.0)).fit(rows)


@pytest.mark.parametrize(
    ("name", "value"), [("categorical", None), ("passthrough", None), ("feature_names", 5)]
)
def test_a_column_list_that_is_no_list_is_refused_naming_the_setting(
    quick_model, name: str, value: object
) -> None:
    # categorical=None ended fit in "TypeError: 'NoneType' object is not iterable".
    allowed = (
        "None or a list of column names"
        if name == "feature_names"
        else rf"a list of column names \({name}=\[\]"
    )
    with pytest.raises(ParameterError, match=rf"'{name}' parameter of DHAG must be {allowed}.*Got {value!r}"):
        quick_model(**{name: value}).fit(_frame())
    with pytest.raises(ParameterError, match=rf"'{name}' must be {allowed}.*Got {value!r}"):
        Preprocessor(**{name: value})


def test_a_torch_device_as_the_device_setting_trains_and_saves_as_its_name(quick_model, tmp_path) -> None:
    import torch

    # fit took torch.device("cpu"), and save then refused the model: "its settings is not JSON-serialisable".
    rows = np.random.default_rng(2).normal(size=(200, 2))
    model = quick_model(device=torch.device("cpu")).fit(rows)
    loaded = DHAG.load(model.save(tmp_path / "device.dhag"))
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(loaded.decision_function(rows[:5]), model.decision_function(rows[:5]))


def test_shift_range_as_a_numpy_pair_trains_and_saves_as_its_numbers(quick_model, tmp_path) -> None:
    # shift_range=np.array([2.0, 4.0]) (a grid of np.linspace pairs) was refused: "must be a pair (low,
    # high) of numbers ... Got array([2., 4.])".
    rows = np.random.default_rng(3).normal(size=(200, 2))
    pair = quick_model(shift_weight=1.0, shift_range=(2.0, 4.0)).fit(rows)
    model = quick_model(shift_weight=1.0, shift_range=np.array([2.0, 4.0])).fit(rows)
    np.testing.assert_array_equal(model.decision_function(rows[:5]), pair.decision_function(rows[:5]))
    assert DHAG.load(model.save(tmp_path / "shift.dhag")).get_params()["shift_range"] == (2.0, 4.0)
    with pytest.raises(ParameterError, match="'shift_range' parameter of DHAG must be a pair"):
        quick_model(shift_range=np.array([[2.0, 4.0]])).fit(rows)
