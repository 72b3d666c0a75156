"""Output feature names are unique: a one-hot column never shares its name with another feature's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG, InputError, Preprocessor


def test_a_numeric_column_named_like_a_one_hot_column_is_refused_naming_both() -> None:
    frame = pd.DataFrame({"site": ["x", "y", "x"], "site=x": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError) as info:
        Preprocessor(categorical=["site"]).fit(frame)
    message = str(info.value)
    assert "'site=x'" in message and "'site'" in message and "rename" in message


def test_two_categorical_columns_whose_one_hot_names_meet_are_refused() -> None:
    # 'a' with category 'b=c' and 'a=b' with category 'c' would both write the feature 'a=b=c'.
    frame = pd.DataFrame({"a": ["b=c", "d"], "a=b": ["c", "e"]})
    with pytest.raises(InputError, match=r"'a' and 'a=b' both become the model feature 'a=b=c'"):
        Preprocessor(categorical=["a", "a=b"]).fit(frame)


def test_a_passthrough_column_named_like_a_one_hot_column_is_refused() -> None:
    frame = pd.DataFrame({"site": ["x", "y"], "site=y": [0, 1]})
    with pytest.raises(InputError, match="'site=y'"):
        Preprocessor(categorical=["site"], passthrough=["site=y"]).fit(frame)


def test_names_that_only_look_alike_are_kept() -> None:
    frame = pd.DataFrame({"site": ["x", "y"], "site=z": [1.0, 2.0]})
    pre = Preprocessor(categorical=["site"]).fit(frame)
    assert pre.output_names_ == ["site=x", "site=y", "site=z"]
    assert len(set(pre.output_names_)) == len(pre.output_names_)


def test_the_estimator_refuses_before_training() -> None:
    frame = pd.DataFrame({"site": ["x", "y"] * 10, "site=x": np.arange(20.0)})
    with pytest.raises(InputError, match="'site=x'"):
        DHAG(categorical=["site"], max_epochs=1).fit(frame)


def test_input_names_that_differ_from_the_features_only_in_case_or_spaces_are_pointed_out() -> None:
    # A header written " flow, Pressure" was told only that 'flow' and 'pressure' were missing and
    # ' flow' and 'Pressure' unexpected, which reads as two different columns.
    pre = Preprocessor().fit(pd.DataFrame({"flow": [1.0, 2.0], "pressure": [3.0, 4.0], "level": [5.0, 6.0]}))
    with pytest.raises(InputError) as info:
        pre.check_names([" flow", "Pressure", "levels"])
    message = str(info.value)
    assert "missing 'flow', 'pressure', 'level'" in message
    assert "' flow' is 'flow' with spaces around it" in message
    assert "'Pressure' is 'pressure' in another case" in message and "'levels' is" not in message
    assert message.endswith("names must match the training's exactly.")
    with pytest.raises(InputError, match=r"unexpected 'levels'\.$"):
        pre.check_names(["flow", "pressure", "levels"])


def test_feature_names_that_are_not_text_name_an_array_as_a_frame_of_those_columns_would() -> None:
    # feature_names=[1, 2] on an array was refused as "feature_names 1, 2 are not the input's columns
    # 1, 2" by the estimator, and kept as ints by the preprocessor, where a frame's column 1 is "1".
    rows = np.random.default_rng(0).normal(size=(100, 2))
    assert Preprocessor(feature_names=[1, 2]).fit(rows).feature_names_in_ == ["1", "2"]
    model = DHAG(max_epochs=1, batch_size=64, random_state=0, feature_names=[1, 2]).fit(rows)
    assert model.feature_names_in_ == ["1", "2"]
    framed = pd.DataFrame(rows[:5], columns=[1, 2])
    np.testing.assert_array_equal(model.decision_function(framed), model.decision_function(rows[:5]))
    with pytest.raises(InputError, match="feature_names has duplicates: '1'"):
        Preprocessor(feature_names=[1, "1"]).fit(rows)


def test_a_mapping_whose_keys_are_one_name_as_text_is_refused_naming_it() -> None:
    # {1: a, "1": b} held one feature "1" twice: fit trained on b alone, the Preprocessor on b twice,
    # and scoring read whichever came last, where a frame with columns 1 and "1" is refused.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    with pytest.raises(InputError, match=r"duplicate column names: '1' \(names are read as text"):
        DHAG(max_epochs=1).fit({1: a, "1": b})
    with pytest.raises(InputError, match="duplicate column names: '1'"):
        Preprocessor().fit({1: a, "1": b})
    with pytest.raises(InputError, match="duplicate column names: '1'"):
        Preprocessor().fit(pd.DataFrame({1: a, "1": b}))
    pre = Preprocessor().fit({"x": a, "1": b})
    with pytest.raises(InputError, match="duplicate column names: '1'"):
        pre.transform({"x": [0.0], 1: [0.0], "1": [5.0]})


def test_an_array_scored_by_a_model_fitted_on_a_frame_is_said_once_to_be_read_by_position(
    caplog, tmp_path
) -> None:
    # Before: the array's columns were silently taken in the training order; one ordered otherwise
    # scored as readings of the wrong sensors. scikit-learn warns in this case; so does DHAG, once.
    names = ["flow", "speed", "temp", "pressure", "level", "vibration", "current"]
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(200, len(names))), columns=names)
    model = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(frame)
    rows = frame.to_numpy()[:5]
    with caplog.at_level("WARNING", logger="dhag"):
        np.testing.assert_array_equal(model.decision_function(rows), model.decision_function(frame[:5]))
        model.predict(rows)
        model.explain(rows.tolist(), top=1)
    said = [r.getMessage() for r in caplog.records if "training order" in r.getMessage()]
    assert len(said) == 1, caplog.text
    assert "'flow', 'speed', 'temp'" in said[0] and "7" in said[0] and "fitted on named" in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG.load(model.save(tmp_path / "m.dhag")).decision_function(rows)  # a loaded model says it too
    assert sum("training order" in r.getMessage() for r in caplog.records) == 1, caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="dhag"):
        model.decision_function(frame[:5])  # by name: nothing to say
        unnamed = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(frame.to_numpy())
        unnamed.decision_function(rows)  # fitted on an array: positions are its only names
        named = DHAG(max_epochs=1, batch_size=64, random_state=0, feature_names=names).fit(frame.to_numpy())
        DHAG.load(named.save(tmp_path / "n.dhag")).decision_function(rows)  # feature_names name the columns
    assert not [r for r in caplog.records if "training order" in r.getMessage()], caplog.text


def test_a_refit_on_other_named_columns_says_again_that_an_array_is_read_by_position(caplog) -> None:
    # The note was said once per model object: refitted on other columns, it stayed silent, though an
    # array was now read in another training order.
    rng = np.random.default_rng(0)
    model = DHAG(max_epochs=1, batch_size=64, random_state=0)
    model.fit(pd.DataFrame(rng.normal(size=(200, 2)), columns=["flow", "speed"]))
    with caplog.at_level("WARNING", logger="dhag"):
        model.decision_function(np.zeros((2, 2)))
        model.fit(pd.DataFrame(rng.normal(size=(200, 2)), columns=["temp", "level"]))
        model.decision_function(np.zeros((2, 2)))
    said = [r.getMessage() for r in caplog.records if "training order" in r.getMessage()]
    assert len(said) == 2, caplog.text
    assert "'flow', 'speed'" in said[0] and "'temp', 'level'" in said[1]


def test_an_array_scored_by_a_model_fitted_on_a_frame_of_an_array_is_read_by_position_without_a_word(
    caplog,
) -> None:
    # pd.DataFrame(X) names its columns 0, 1, ...: the model was said to be fitted on named features
    # ('0', '1', '2') and an array read in their order, which is the only order they name.
    rows = np.random.default_rng(0).normal(size=(200, 3))
    model = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(pd.DataFrame(rows))
    shuffled = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(pd.DataFrame(rows)[[2, 0, 1]])
    with caplog.at_level("WARNING", logger="dhag"):
        np.testing.assert_array_equal(
            model.decision_function(rows[:5]), model.decision_function(pd.DataFrame(rows[:5]))
        )
    assert not [r for r in caplog.records if "training order" in r.getMessage()], caplog.text
    with caplog.at_level("WARNING", logger="dhag"):
        shuffled.decision_function(rows[:5])  # columns 2, 0, 1: an order of their own, said
    assert sum("training order ('2', '0', '1')" in r.getMessage() for r in caplog.records) == 1


def test_a_frame_given_to_a_model_fitted_on_an_array_is_refused_saying_how_to_score_it_by_position() -> None:
    # pd.DataFrame(X), or the frame whose .to_numpy() was fitted, was told only that 'x0', 'x1' were
    # missing and 0, 1 unexpected: names the user never gave.
    rows = np.random.default_rng(0).normal(size=(100, 2))
    model = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(rows)
    for frame in (pd.DataFrame(rows[:3]), pd.DataFrame(rows[:3], columns=["flow", "temp"])):
        with pytest.raises(InputError) as info:
            model.decision_function(frame)
        message = str(info.value)
        assert "missing 'x0', 'x1'" in message
        assert "fitted on an array, whose columns it names x0, x1, ... by position" in message
        assert "frame.to_numpy()" in message
        np.testing.assert_array_equal(
            model.decision_function(frame.to_numpy()), model.decision_function(rows[:3])
        )
    with pytest.raises(InputError) as info:  # a frame of other columns than the model's: no such hint
        model.decision_function(pd.DataFrame(rows[:3, :1], columns=["flow"]))
    assert "to_numpy" not in str(info.value)
    named = DHAG(max_epochs=1, batch_size=64, random_state=0).fit(pd.DataFrame(rows, columns=["a", "b"]))
    with pytest.raises(InputError) as info:  # fitted on a frame: its names are the user's
        named.decision_function(pd.DataFrame(rows[:3], columns=["flow", "temp"]))
    assert "to_numpy" not in str(info.value)
