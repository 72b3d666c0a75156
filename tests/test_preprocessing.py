"""The fitted preprocessing: z-scores, one-hots, passthrough, names, and errors that say what is wrong."""

from __future__ import annotations

import json
import logging

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dhag import InputError, NotFittedError, ParameterError, Preprocessor


def _plant_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pressure": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "mode": ["run", "run", "idle", "run", "idle", "run"],
            "valve_open": [0, 1, 1, 0, 1, 1],
            "temperature": [20.0, 20.0, 20.0, 20.0, 20.0, 20.0],
        }
    )


def _plant_preprocessor() -> Preprocessor:
    return Preprocessor(categorical=["mode"], passthrough=["valve_open"]).fit(_plant_frame())


@given(
    table=hnp.arrays(
        np.float64,
        st.tuples(st.integers(3, 40), st.integers(1, 5)),
        elements=st.floats(-1e3, 1e3),
    )
)
def test_training_columns_come_out_with_mean_zero_and_unit_std(table: np.ndarray) -> None:
    assume((np.ptp(table, axis=0) > 1e-2).all())
    out = Preprocessor().fit_transform(table)
    assert out.dtype == np.float32 and out.shape == table.shape
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-3)


def test_new_rows_are_scaled_with_the_training_statistics() -> None:
    train = np.array([[0.0, 10.0], [2.0, 30.0]])  # means 1, 20; stds 1, 10
    out = Preprocessor().fit(train).transform(np.array([[3.0, 0.0]]))
    np.testing.assert_allclose(out, [[2.0, -2.0]])


def test_a_constant_column_is_centred_not_divided_by_zero() -> None:
    pre = Preprocessor().fit(np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]]))
    out = pre.transform(np.array([[5.0, 2.0], [7.5, 2.0]]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], [0.0, 2.5])


def test_a_column_constant_in_floating_point_is_not_divided_by_its_rounding_noise() -> None:
    # np.full(100, 0.1).std() is about 1e-17, not 0: divided by it, any other value standardises past
    # float32 and is refused or scored as an extreme anomaly.
    pre = Preprocessor().fit(np.column_stack([np.full(100, 0.1), np.random.default_rng(0).normal(size=100)]))
    assert pre.scales_[pre.feature_names_in_[0]] == 1.0
    out = pre.transform(np.array([[0.2, 0.0]]))
    np.testing.assert_allclose(out[0, 0], 0.1, rtol=1e-6)


def test_categorical_features_become_one_hot_columns_and_unseen_categories_all_zeros() -> None:
    pre = _plant_preprocessor()
    assert pre.output_names_ == ["pressure", "mode=idle", "mode=run", "valve_open", "temperature"]
    rows = pd.DataFrame(
        {
            "pressure": [3.5, 3.5, 3.5],
            "mode": ["idle", "run", "cleaning"],
            "valve_open": [1, 1, 1],
            "temperature": [20.0, 20.0, 20.0],
        }
    )
    out = pre.transform(rows)
    np.testing.assert_array_equal(out[:, 1:3], [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    ("modes", "said"), [(["cleaning"], "1 row with"), (["cleaning", "purge"], "2 rows with")]
)
def test_rows_of_an_unseen_category_are_counted_once_in_the_warning(modes, said, caplog) -> None:
    pre = _plant_preprocessor()
    rows = pd.DataFrame({"pressure": 3.5, "mode": modes, "valve_open": 1, "temperature": 20.0})
    with caplog.at_level(logging.WARNING):
        pre.transform(rows)
        pre.transform(rows)
    (line,) = [r.getMessage() for r in caplog.records if "not seen in training" in r.getMessage()]
    assert f"Categorical feature 'mode': {said} a category not seen in training (first 'cleaning')" in line
    assert ("it is scored" if len(modes) == 1 else "they are scored") in line


def test_passthrough_features_are_kept_as_given() -> None:
    pre = _plant_preprocessor()
    rows = _plant_frame().assign(valve_open=[0, 1, 1, 1, 0, 3])
    np.testing.assert_array_equal(pre.transform(rows)[:, 3], [0, 1, 1, 1, 0, 3])


def test_baseline_is_the_typical_training_row() -> None:
    pre = _plant_preprocessor()
    # z-scored mean, category frequencies (idle 2/6, run 4/6), passthrough mean, constant column.
    np.testing.assert_allclose(pre.baseline(), [0.0, 2 / 6, 4 / 6, 4 / 6, 0.0], rtol=1e-6)
    assert [(n, (s.start, s.stop)) for n, s in pre.feature_slices()] == [
        ("pressure", (0, 1)),
        ("mode", (1, 3)),
        ("valve_open", (3, 4)),
        ("temperature", (4, 5)),
    ]


def test_dataframe_columns_are_matched_by_name_not_position() -> None:
    pre, frame = _plant_preprocessor(), _plant_frame()
    shuffled = frame[["temperature", "valve_open", "pressure", "mode"]]
    np.testing.assert_array_equal(pre.transform(shuffled), pre.transform(frame))


def test_mapping_of_columns_gives_the_same_matrix_as_a_frame() -> None:
    pre, frame = _plant_preprocessor(), _plant_frame()
    as_dict = {name: frame[name].to_numpy() for name in reversed(frame.columns)}
    np.testing.assert_array_equal(pre.transform(as_dict), pre.transform(frame))


def test_wrong_number_of_features_names_the_expected_and_given_counts() -> None:
    pre = Preprocessor().fit(np.zeros((4, 3)) + np.arange(4)[:, None])
    with pytest.raises(InputError, match=r"Expected 3 features .*Got 5 columns"):
        pre.transform(np.zeros((2, 5)))


def test_wrong_feature_names_say_which_are_missing_and_which_unexpected() -> None:
    pre = _plant_preprocessor()
    renamed = _plant_frame().rename(columns={"pressure": "presure"})
    with pytest.raises(InputError, match=r"missing 'pressure'; unexpected 'presure'") as info:
        pre.transform(renamed)
    assert "4 training features" in str(info.value)
    with pytest.raises(InputError, match=r"missing 'temperature'\.$"):
        pre.transform(_plant_frame().drop(columns="temperature"))
    with pytest.raises(InputError, match=r"unexpected 'humidity'\.$"):
        pre.transform(_plant_frame().assign(humidity=1.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_refused_naming_the_column_and_row(bad: float) -> None:
    pre = Preprocessor().fit(pd.DataFrame({"flow": [1.0, 2.0, 3.0], "speed": [4.0, 5.0, 7.0]}))
    rows = pd.DataFrame({"flow": [1.0, 2.0, 3.0], "speed": [4.0, 5.0, bad]})
    with pytest.raises(InputError, match=r"'speed' has 1 NaN or infinite value\(s\) \(first at row 2\)"):
        pre.transform(rows)
    with pytest.raises(InputError, match="'speed'"):
        Preprocessor().fit(rows)


def test_values_too_large_to_standardise_or_score_are_refused_naming_the_column() -> None:
    # Before, a 1e300 made the column's spread inf and the column silently all zeros (then the model
    # could not be saved), and a 1e39 at scoring read as "NaN or infinite values" naming no column.
    frame = pd.DataFrame({"flow": [1.0, 2.0, 3.0], "speed": [4.0, 5.0, 1e300]})
    with pytest.raises(InputError, match=r"Feature 'speed' holds values too large to standardise"):
        Preprocessor().fit(frame)
    pre = Preprocessor().fit(frame.assign(speed=[4.0, 5.0, 6.0]))
    with pytest.raises(InputError, match=r"Feature 'flow' has 1 value\(s\) too large .* row 1"):
        pre.transform(pd.DataFrame({"flow": [1.0, 1e39], "speed": [4.0, 5.0]}))


def test_a_string_in_a_numeric_column_is_refused_naming_the_column() -> None:
    pre = Preprocessor().fit(pd.DataFrame({"flow": [1.0, 2.0], "speed": [4.0, 5.0]}))
    rows = pd.DataFrame({"flow": [1.0, 2.0], "speed": [4.0, "fast"]})
    with pytest.raises(InputError, match=r"Feature 'speed' must be numeric"):
        pre.transform(rows)


def test_a_missing_category_is_refused_naming_the_column() -> None:
    pre = _plant_preprocessor()
    rows = _plant_frame().assign(mode=["run", None, "idle", "run", "idle", "run"])
    with pytest.raises(InputError, match=r"'mode' has 1 missing value\(s\) \(first at row 1\)"):
        pre.transform(rows)


def test_integer_column_names_are_declared_as_they_are_named() -> None:
    # Names are read as text; a declared integer name said "features 1 are not among ('0', '1')".
    frame = pd.DataFrame({0: [1.0, 2.0, 3.0], 1: ["a", "b", "a"]})
    pre = Preprocessor(categorical=[1]).fit(frame)
    assert pre.output_names_ == ["0", "1=a", "1=b"]


def test_a_category_named_like_a_missing_value_is_a_category() -> None:
    frame = pd.DataFrame({"flow": [1.0, 2.0, 3.0], "fault": ["None", "Minor", "NaN"]})
    pre = Preprocessor(categorical=["fault"]).fit(frame)
    assert pre.to_dict()["categories"]["fault"] == ["Minor", "NaN", "None"]
    for missing in (float("nan"), pd.NA):
        with pytest.raises(InputError, match=r"'fault' has 1 missing value\(s\) \(first at row 2\)"):
            pre.transform(frame.assign(fault=pd.Series(["None", "Minor", missing], dtype=object)))


def test_declaring_an_unknown_or_doubly_declared_feature_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match=r"'categorical' setting names 'colour', not among the columns"):
        Preprocessor(categorical=["colour"]).fit(_plant_frame())
    with pytest.raises(ParameterError, match=r"both categorical and passthrough. Got 'mode'"):
        Preprocessor(categorical=["mode"], passthrough=["mode"]).fit(_plant_frame())


def test_an_empty_table_cannot_be_fitted() -> None:
    with pytest.raises(InputError, match="empty"):
        Preprocessor().fit(np.zeros((0, 3)))


def test_state_survives_a_json_round_trip() -> None:
    pre = _plant_preprocessor()
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    rows = _plant_frame().assign(mode=["run", "idle", "cleaning", "run", "idle", "run"])
    np.testing.assert_array_equal(again.transform(rows), pre.transform(rows))
    assert again.output_names_ == pre.output_names_
    np.testing.assert_array_equal(again.baseline(), pre.baseline())
    assert again.to_dict() == pre.to_dict()


def test_corrupt_state_is_refused() -> None:
    state = _plant_preprocessor().to_dict()
    with pytest.raises(InputError, match="scale"):
        Preprocessor.from_dict(state | {"scales": {**state["scales"], "pressure": 0.0}})
    with pytest.raises(InputError, match="statistics do not cover"):
        Preprocessor.from_dict(state | {"means": {"pressure": 1.0}})
    with pytest.raises(InputError, match="Invalid preprocessing state"):
        Preprocessor.from_dict({k: v for k, v in state.items() if k != "means"})


def test_training_ranges_are_kept_for_numeric_features_and_checked_on_load() -> None:
    pre = _plant_preprocessor()
    assert pre.ranges_ == {"pressure": [1.0, 6.0], "valve_open": [0.0, 1.0], "temperature": [20.0, 20.0]}
    state = pre.to_dict()
    # A state written before the ranges were kept loads, with the ranges unknown.
    old = Preprocessor.from_dict({k: v for k, v in state.items() if k != "ranges"})
    assert old.ranges_ == {}
    np.testing.assert_array_equal(old.transform(_plant_frame()), pre.transform(_plant_frame()))
    for bad in (
        {**state["ranges"], "pressure": [6.0, 1.0]},  # min above max
        {"pressure": [1.0, 6.0]},  # not every numeric feature
        {**state["ranges"], "mode": [0.0, 1.0]},  # a categorical feature
    ):
        with pytest.raises(InputError, match="training ranges"):
            Preprocessor.from_dict(state | {"ranges": bad})
    with pytest.raises(InputError, match="Invalid preprocessing state"):
        Preprocessor.from_dict(state | {"ranges": {**state["ranges"], "pressure": [1.0]}})


@pytest.mark.parametrize("method", ["transform", "to_dict", "baseline", "feature_slices"])
def test_use_before_fit_raises_not_fitted(method: str) -> None:
    args = (np.zeros((1, 2)),) if method == "transform" else ()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(Preprocessor(), method)(*args)


@pytest.mark.parametrize(
    ("fitted_on", "scored_with"),
    [
        ([True, False], [1, 0]),
        ([1, 0], [True, False]),
        ([True, False], ["1", "0"]),
        ([True, False], ["true", "false"]),
    ],
)
def test_a_two_state_categorical_is_the_same_category_as_true_false_or_as_1_0(
    fitted_on: list, scored_with: list, caplog
) -> None:
    # A flag fitted from a frame's bools (True/False) and scored from a source that writes 1/0 (or the
    # other way round) was two categories never seen: every row scored as in none.
    fit_rows = pd.DataFrame({"a": np.arange(6.0), "flag": fitted_on * 3})
    pre = Preprocessor(categorical=["flag"]).fit(fit_rows)
    scored = fit_rows.assign(flag=scored_with * 3)
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(pre.transform(scored), pre.transform(fit_rows))
    assert "not seen in training" not in caplog.text


@pytest.mark.parametrize("scored_as", [" north", "north ", "\tnorth", " 1.0"])
def test_a_category_with_spaces_around_it_is_the_category(scored_as: str, caplog) -> None:
    # A CSV written with a space after each comma reads its numbers as numbers but its categories as
    # ' north': every row was scored as in no known category, with one warning for the file.
    known = "1" if scored_as.strip() == "1.0" else "north"
    fit_rows = pd.DataFrame({"a": np.arange(4.0), "site": [known, "south"] * 2})
    pre = Preprocessor(categorical=["site"]).fit(fit_rows)
    with caplog.at_level(logging.WARNING):
        scored = pre.transform(fit_rows.assign(site=[scored_as, " south "] * 2))
    np.testing.assert_array_equal(scored, pre.transform(fit_rows))
    assert "not seen in training" not in caplog.text


def test_a_category_and_it_with_spaces_both_seen_in_training_stay_two_categories() -> None:
    pre = Preprocessor(categorical=["site"]).fit(pd.DataFrame({"site": ["north", " north", "x"]}))
    assert pre.transform(pd.DataFrame({"site": ["north", " north"]})).tolist() == [[0, 1, 0], [1, 0, 0]]


def test_true_and_1_both_seen_in_training_stay_two_categories() -> None:
    pre = Preprocessor(categorical=["flag"]).fit(pd.DataFrame({"flag": ["True", "1", "x"]}))
    assert pre.transform(pd.DataFrame({"flag": ["True", "1"]})).tolist() == [[0, 1, 0], [1, 0, 0]]


@pytest.mark.parametrize("arrow", [False, True], ids=["objects", "pyarrow"])
def test_a_column_of_decimals_is_read_as_the_numbers_it_holds(arrow: bool) -> None:
    # pd.read_parquet or pd.read_sql give a database's NUMERIC column as Decimal objects (or, with
    # dtype_backend="pyarrow", as a decimal128 column), as `dhag train` reads such a file as numbers.
    from decimal import Decimal

    import pyarrow as pa

    flow = [12.25, 9.5, 10.75, 11.0]
    decimals = pd.Series(
        [Decimal(str(v)) for v in flow], dtype=pd.ArrowDtype(pa.decimal128(6, 2)) if arrow else object
    )
    frame = pd.DataFrame({"flow": decimals, "temp": [50.0, 51.0, 49.0, 50.5]})
    pre = Preprocessor().fit(frame)
    expected = Preprocessor().fit(frame.assign(flow=flow))
    assert pre.means_ == expected.means_ and pre.scales_ == expected.scales_
    assert pre.transform(frame).tolist() == expected.transform(frame.assign(flow=flow)).tolist()


def test_a_categorical_column_of_bytes_has_the_categories_its_text_names() -> None:
    # h5py reads fixed-length strings as bytes, numpy's "S" dtype holds them: b"north" is 'north'.
    sites = np.array([b"north", b"south", b"north", "w\u00e9st".encode()])
    pre = Preprocessor(categorical=["site"]).fit({"site": sites, "flow": np.arange(4.0)})
    assert pre.output_names_ == ["site=north", "site=south", "site=w\u00e9st", "flow"]
    as_text = {"site": np.array(["north", "south", "north", "w\u00e9st"]), "flow": np.arange(4.0)}
    assert pre.transform({"site": sites, "flow": np.arange(4.0)}).tolist() == pre.transform(as_text).tolist()


@pytest.mark.parametrize("gap", [None, np.nan, pd.NA])
def test_a_gap_in_a_categorical_is_refused_saying_how_to_make_it_a_category(gap) -> None:
    # scikit-learn's OneHotEncoder makes a gap a category; here it was refused saying only how many there
    # were, leaving the user to guess whether to fill or drop them.
    frame = pd.DataFrame({"flow": [1.0, 2.0, 3.0], "zone": ["north", gap, "south"]})
    with pytest.raises(InputError) as refused:
        Preprocessor(categorical=["zone"]).fit(frame)
    assert str(refused.value) == (
        "Categorical feature 'zone' has 1 missing value(s) (first at row 1). A gap is no category: fill "
        "those cells with one of their own, frame['zone'].fillna('unknown') (in a file, a word such as "
        "unknown), or drop their rows."
    )
    filled = frame.assign(zone=frame["zone"].fillna("unknown"))
    assert "zone=unknown" in Preprocessor(categorical=["zone"]).fit(filled).output_names_


def test_a_declared_column_named_in_another_case_is_refused_naming_the_column_it_is() -> None:
    # It was refused as not among the input features, the frame's 'Mode' beside it unremarked.
    frame = _plant_frame()
    with pytest.raises(ParameterError) as refused:
        Preprocessor(categorical=["Mode"]).fit(frame)
    assert str(refused.value).startswith("The 'categorical' setting names 'Mode', not among the columns of")
    assert str(refused.value).endswith(": 'Mode' is 'mode' in another case; names must match exactly.")
