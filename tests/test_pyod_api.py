"""DHAG as a PyOD user meets it: ``decision_scores_`` and ``labels_`` of the training rows after ``fit``,
``fit_predict``, and what of them a copy, a clone or a loaded model keeps."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from plant_data import gross_outliers, normal

from dhag import DHAG, ArtifactError, NotFittedError, ParameterError, load_model


@pytest.mark.parametrize("split", ["random", "blocks", "last"])
def test_decision_scores_are_the_training_rows_scores_in_their_order(quick_model, rng, split: str) -> None:
    rows = np.vstack([normal(rng, 300), gross_outliers(rng, 5)])
    y = np.zeros(len(rows), dtype=int)
    y[[3, 301]] = 1  # known anomalies are training rows too, scored where they stand
    model = quick_model(validation_split=split).fit(rows, y)
    scores = model.decision_scores_
    assert scores.dtype == np.float64 and scores.shape == (len(rows),)
    np.testing.assert_array_equal(scores, model.decision_function(rows))
    assert model.labels_.dtype == np.int64
    np.testing.assert_array_equal(model.labels_, model.predict(rows))
    np.testing.assert_array_equal(model.labels_, (scores > model.threshold_).astype(np.int64))


def test_with_contamination_that_share_of_the_training_rows_is_labelled_anomalous(quick_model, rng) -> None:
    rows = normal(rng, 1000)
    model = quick_model(contamination=0.05).fit(rows)
    # The threshold is the 95 % quantile of the training rows' scores, as PyOD's is.
    assert 0.05 - 0.002 <= model.labels_.mean() <= 0.05


def test_labels_follow_a_threshold_set_after_fit_as_predict_does(quick_model, rng) -> None:
    rows = normal(rng, 300)
    model = quick_model().fit(rows)
    model.threshold_ = float(np.median(model.decision_scores_))
    np.testing.assert_array_equal(model.labels_, model.predict(rows))
    assert 0.4 <= model.labels_.mean() <= 0.5


@pytest.mark.parametrize(
    ("threshold", "said"), [("0.5", "'0.5' (str)"), (None, "None (NoneType)"), (float("nan"), "nan")]
)
def test_a_threshold_set_to_no_number_is_refused_naming_threshold_(
    quick_model, rng, tmp_path, threshold, said: str
) -> None:
    # A threshold_ set from text (a config file's value) ended predict in numpy's UFuncTypeError, and
    # save wrote float('0.5') as if it were a number.
    rows = normal(rng, 300)
    model = quick_model().fit(rows)
    model.threshold_ = threshold
    for use in (lambda: model.predict(rows), lambda: model.labels_):
        with pytest.raises(ParameterError) as refused:
            use()
        assert str(refused.value).startswith("threshold_ must be a number in [0, 1]") and said in str(
            refused.value
        )
    with pytest.raises(ArtifactError, match="cannot be saved: its threshold"):
        model.save(tmp_path / "m.dhag")
    assert not (tmp_path / "m.dhag").exists()
    model.threshold_ = np.float32(0.5)  # numpy's numbers are numbers
    assert model.predict(rows).shape == (300,)


def test_fit_predict_fits_and_gives_the_training_rows_labels(quick_model, rng) -> None:
    rows = np.vstack([normal(rng, 300), gross_outliers(rng, 5)])
    model = quick_model(random_state=3)
    labels = model.fit_predict(rows)
    np.testing.assert_array_equal(labels, model.labels_)
    np.testing.assert_array_equal(labels, quick_model(random_state=3).fit(rows).predict(rows))
    assert labels[-5:].tolist() == [1] * 5 and set(labels.tolist()) == {0, 1}
    y = np.zeros(len(rows), dtype=int)
    y[-1] = 1
    assert model.fit_predict(rows, y).shape == (len(rows),) and model.training_["n_known_anomalies"] == 1


def test_refit_replaces_the_training_scores(quick_model, rng) -> None:
    model = quick_model()
    model.fit(rng.normal(size=(200, 4)))
    model.fit(rng.normal(size=(300, 6)))
    assert model.decision_scores_.shape == (300,) and model.labels_.shape == (300,)


@pytest.mark.parametrize("name", ["decision_scores_", "labels_"])
def test_before_fit_and_after_clone_they_are_not_there(name: str, fitted: DHAG) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(DHAG(), name)
    assert not hasattr(DHAG(), name)
    sklearn_base = pytest.importorskip("sklearn.base")
    assert not hasattr(sklearn_base.clone(fitted), name)


@pytest.mark.parametrize("name", ["decision_scores_", "labels_"])
def test_a_loaded_model_has_none_and_says_why(name: str, fitted: DHAG, tmp_path) -> None:
    loaded = load_model(fitted.save(tmp_path / "m.dhag"))
    with pytest.raises(AttributeError, match=rf"{name} .*not saved in the artifact.*decision_function"):
        getattr(loaded, name)
    assert getattr(loaded, name, None) is None
    # What it has from the artifact still works.
    assert loaded.predict(normal(np.random.default_rng(0), 3)).shape == (3,)


def test_a_copied_or_pickled_model_keeps_them(quick_model, rng) -> None:
    model = quick_model().fit(normal(rng, 200))
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(twin.decision_scores_, model.decision_scores_)
        np.testing.assert_array_equal(twin.labels_, model.labels_)
