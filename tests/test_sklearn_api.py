"""DHAG as scikit-learn's tools use it: fitted-state checks, pipelines, clone and repr. scikit-learn is
an optional dependency (the benchmarks'): these tests skip without it."""

from __future__ import annotations

import numpy as np
import pytest
from plant_data import normal

from dhag import DHAG

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402


def test_check_is_fitted_tells_a_fitted_model_from_an_unfitted_one(fitted: DHAG) -> None:
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(DHAG())
    check_is_fitted(fitted)


def test_a_pipeline_scales_then_scores_as_the_model_alone_does(quick_model, rng) -> None:
    rows, new = normal(rng, 300), normal(rng, 20)
    pipe = make_pipeline(StandardScaler(), quick_model(random_state=4)).fit(rows)
    scaler = StandardScaler().fit(rows)
    alone = quick_model(random_state=4).fit(scaler.transform(rows))
    np.testing.assert_array_equal(pipe.decision_function(new), alone.decision_function(scaler.transform(new)))
    flags = pipe.predict(new)
    assert flags.dtype == np.int64 and set(flags.tolist()) <= {0, 1}
    np.testing.assert_array_equal(flags, alone.predict(scaler.transform(new)))


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_settings(fitted: DHAG) -> None:
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "net_") and not hasattr(copy, "n_features_in_")
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(copy)


def test_joblib_round_trips_a_fitted_model(fitted: DHAG, rng, tmp_path) -> None:
    joblib = pytest.importorskip("joblib")
    joblib.dump(fitted, tmp_path / "m.joblib")
    rows = normal(rng, 20)
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "m.joblib").decision_function(rows), fitted.decision_function(rows)
    )
