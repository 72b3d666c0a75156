"""``transform``'s columns by name, and a DataFrame from it on request, as scikit-learn's
``get_feature_names_out`` and ``set_output`` give them (a Pipeline's ``set_output`` asks every step)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from plant_data import normal

from dhag import DHAG, ParameterError

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _frame(rng) -> pd.DataFrame:
    rows = normal(rng, 300)
    frame = pd.DataFrame(rows, columns=[f"s{i}" for i in range(rows.shape[1])], index=np.arange(300) + 1000)
    frame["site"] = np.where(np.arange(300) % 3 == 0, "north", "south")
    return frame


def test_a_pipeline_set_to_give_frames_scores_as_the_model_alone_does(quick_model, rng) -> None:
    # Pipeline.set_output(transform="pandas") raised "Unable to configure output for DHAG because
    # `set_output` is not available": DHAG has transform, so scikit-learn asks it too.
    rows, new = normal(rng, 300), normal(rng, 20)
    pipe = make_pipeline(StandardScaler(), quick_model(random_state=4)).set_output(transform="pandas")
    pipe.fit(rows)
    scaler = StandardScaler().fit(rows)
    alone = quick_model(random_state=4).fit(scaler.transform(rows))
    np.testing.assert_array_equal(pipe.decision_function(new), alone.decision_function(scaler.transform(new)))
    np.testing.assert_array_equal(pipe.predict(new), alone.predict(scaler.transform(new)))
    assert isinstance(pipe.transform(new), pd.DataFrame)


def test_transform_gives_a_frame_named_by_the_output_features_when_set_to(quick_model, rng) -> None:
    frame = _frame(rng)
    model = quick_model(categorical=["site"]).fit(frame)
    names = model.get_feature_names_out()
    assert names.dtype == object and names.tolist() == model.preprocessor_.output_names_
    assert names.tolist()[-2:] == ["site=north", "site=south"]
    matrix = model.transform(frame)
    assert model.set_output(transform="pandas") is model
    out = model.transform(frame)
    assert isinstance(out, pd.DataFrame) and out.columns.tolist() == names.tolist()
    assert out.index.equals(frame.index) and (out.dtypes == np.float32).all()
    np.testing.assert_array_equal(out.to_numpy(), matrix)
    # Scores, flags and explanations do not change with it.
    np.testing.assert_array_equal(
        model.decision_function(frame), quick_model(categorical=["site"]).fit(frame).decision_function(frame)
    )
    assert isinstance(model.fit_transform(frame), pd.DataFrame)
    assert isinstance(
        clone(model).fit(frame).transform(frame), pd.DataFrame
    )  # clone keeps it, as scikit-learn's
    assert isinstance(model.set_output(transform="default").transform(frame), np.ndarray)
    assert isinstance(model.set_output().transform(frame), np.ndarray)  # None: left as it is


def test_names_given_to_get_feature_names_out_must_be_the_models(fitted: DHAG) -> None:
    names = fitted.get_feature_names_out(fitted.feature_names_in_)
    assert names.tolist() == fitted.preprocessor_.output_names_
    with pytest.raises(ValueError, match="input_features"):
        fitted.get_feature_names_out(["a", "b"])


def test_an_output_of_another_kind_is_refused_naming_the_kinds_taken() -> None:
    with pytest.raises(ParameterError, match=r"'default' \(a float32 array\), 'pandas' \(a DataFrame\) or "):
        DHAG().set_output(transform="numpy")


def test_polars_output_is_refused_saying_how_to_get_a_polars_frame() -> None:
    # scikit-learn's transformers take 'polars', so a Pipeline's set_output(transform='polars') asks DHAG
    # too; it was refused as any unknown value, which read as a slip in the name.
    pipe = make_pipeline(StandardScaler(), DHAG())
    with pytest.raises(ParameterError) as refused:
        pipe.set_output(transform="polars")
    assert str(refused.value).endswith(
        "Got 'polars' instead: DHAG's transform gives no polars DataFrame; set 'pandas' and convert its "
        "frame with polars.from_pandas(...)"
    )
    assert refused.value.setting == "transform"
