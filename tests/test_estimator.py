"""The DHAG estimator as a user meets it: fit, scores, predict, errors, quality (the threshold:
test_estimator_threshold.py; explain: test_explain.py; the caller's process-wide state:
test_caller_state.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from plant_data import FEATURES, auroc, fault_cluster, gross_outliers, normal, relation_broken

from dhag import DHAG, InputError, NotFittedError, ParameterError
from dhag.health import outlier_probe, pushed_rows, rank_auroc


# -- the estimator contract --------------------------------------------------------------------------
def test_fit_returns_the_estimator(quick_model, rng) -> None:
    model = quick_model()
    assert model.fit(normal(rng, 200)) is model


def test_same_seed_gives_identical_scores_and_other_seeds_differ(quick_model, rng) -> None:
    train, test = normal(rng, 300), normal(rng, 50)
    a = quick_model(random_state=7).fit(train).decision_function(test)
    b = quick_model(random_state=7).fit(train).decision_function(test)
    c = quick_model(random_state=8).fit(train).decision_function(test)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_scores_are_probabilities_even_for_extreme_rows(fitted: DHAG, rng) -> None:
    rows = np.vstack([normal(rng, 100), np.full((1, 4), 1e6), np.full((1, 4), -1e6)])
    scores = fitted.decision_function(rows)
    assert scores.dtype == np.float64 and scores.shape == (102,)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()


@pytest.mark.parametrize("method", ["decision_function", "predict", "explain", "transform", "save"])
def test_use_before_fit_raises_not_fitted(method: str, tmp_path) -> None:
    arg = tmp_path / "m.dhag" if method == "save" else np.zeros((2, 4))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(DHAG(), method)(arg)


def test_fit_does_not_modify_its_input(quick_model, rng) -> None:
    rows = normal(rng, 200)
    labels = np.zeros(200, dtype=int)
    labels[:5] = 1
    rows_copy, labels_copy = rows.copy(), labels.copy()
    frame = pd.DataFrame(rows, columns=FEATURES)
    frame_copy = frame.copy()
    model = quick_model().fit(rows, labels)
    model.decision_function(rows)
    model.explain(rows[:3])
    quick_model().fit(frame).decision_function(frame)
    np.testing.assert_array_equal(rows, rows_copy)
    np.testing.assert_array_equal(labels, labels_copy)
    pd.testing.assert_frame_equal(frame, frame_copy)


def test_refit_discards_the_previous_fit(quick_model, rng) -> None:
    model = quick_model()
    model.fit(rng.normal(size=(200, 4)))
    model.fit(rng.normal(size=(200, 6)))
    assert model.n_features_in_ == 6
    assert model.decision_function(rng.normal(size=(3, 6))).shape == (3,)
    with pytest.raises(InputError, match="Expected 6 features"):
        model.decision_function(rng.normal(size=(3, 4)))


def test_dataframe_columns_are_matched_by_name(quick_model, rng) -> None:
    frame = pd.DataFrame(normal(rng, 200), columns=FEATURES)
    model = quick_model().fit(frame)
    assert model.feature_names_in_ == FEATURES
    np.testing.assert_array_equal(
        model.decision_function(frame[FEATURES[::-1]]), model.decision_function(frame)
    )
    with pytest.raises(InputError, match="missing 'vibration'"):
        model.decision_function(frame.drop(columns="vibration"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("latent_dim", 0),
        ("n_perturbators", 2.5),
        ("batch_size", True),
        ("max_epochs", -1),
        ("k", 0),
        ("lambda_norm", -0.1),
        ("lr", "fast"),
        ("validation_fraction", 0.5),
        ("validation_split", "tail"),
        ("target_far", 0.7),
        ("target_far", 0),
        ("contamination", 0.7),
        ("time_budget", 0),
        ("time_budget", float("inf")),  # fits, then could never be saved
        ("discriminator_decay", 0.0),
        ("device", "gpu"),
        ("ce_target", 1.0),
        ("ce_target", 0),
        ("retry_ce_target", 1.0),
        ("retry_ce_target", "0.9"),
        ("shift_weight", -1.0),
        ("shift_range", (4.0, 2.0)),
        ("shift_range", (0.0, 0.0)),
        ("shift_mode", "inward"),
        ("perturbator_game", "minimax"),
        ("ce_weighting", "balanced"),
        ("recipe", "authors"),
        ("min_threshold", 1.0),
        ("min_threshold", "0.5"),
        ("shift_range", 3.0),
    ],
)
def test_bad_parameters_raise_naming_the_parameter_and_the_value(name: str, value, rng) -> None:
    model = DHAG(**{name: value})  # __init__ only stores; fit checks
    with pytest.raises(ParameterError) as info:
        model.fit(normal(rng, 50))
    message = str(info.value)
    assert f"'{name}' parameter of DHAG" in message
    assert f"Got {value!r}" in message
    assert not hasattr(model, "net_")


def test_labels_must_match_the_rows_and_be_zero_or_one(quick_model, rng) -> None:
    rows = normal(rng, 50)
    with pytest.raises(InputError, match="one value per row"):
        quick_model().fit(rows, np.zeros(49))
    with pytest.raises(InputError, match="only 0"):
        quick_model().fit(rows, np.full(50, 2))


@pytest.mark.parametrize(
    ("labels", "said"),
    [
        # scikit-learn's outlier detectors mark outliers -1 and inliers 1: that is not DHAG's y.
        (np.where(np.arange(50) < 3, -1, 1), "Got -1 at row 0 (and 2 more); scikit-learn's -1/1"),
        (pd.Series([0.0] * 49 + [np.nan]), "Got a missing value at row 49."),
        (pd.array([0] * 10 + [None] + [1] * 39, dtype="Int64"), "Got a missing value at row 10."),
        (np.array(["no"] * 50), "Got 'no' at row 0 (and 49 more)"),
    ],
)
def test_labels_other_than_zero_and_one_are_refused_naming_the_first(quick_model, rng, labels, said) -> None:
    with pytest.raises(InputError, match="only 0 .* and 1 .*") as info:
        quick_model().fit(normal(rng, 50), labels)
    assert said in str(info.value)


def test_known_anomalies_do_not_shift_the_scaling(quick_model, rng) -> None:
    rows = normal(rng, 200)
    labels = np.r_[np.zeros(190), np.ones(10)]
    rows[190:] = 1e3
    model = quick_model().fit(rows, labels)
    assert model.preprocessor_.means_["x0"] == pytest.approx(rows[:190, 0].mean())
    assert model.training_["n_known_anomalies"] == 10


def test_get_params_accepts_deep_like_scikit_learn() -> None:
    # sklearn.base.clone, GridSearchCV and friends call get_params(deep=False).
    assert DHAG(max_epochs=3).get_params(deep=False)["max_epochs"] == 3


def test_repr_shows_the_settings_that_differ_from_the_defaults() -> None:
    assert repr(DHAG()) == "DHAG()"
    assert repr(DHAG(max_epochs=3, categorical=["kind"], ce_target=0.5)) == (
        "DHAG(ce_target=0.5, max_epochs=3, categorical=['kind'])"
    )
    assert repr(DHAG(max_epochs=100, min_threshold=float("nan"))) == "DHAG(min_threshold=nan)"


# -- threshold and predict ---------------------------------------------------------------------------


def test_scoring_from_several_threads_at_once_gives_the_serial_scores(fitted: DHAG, rng) -> None:
    batches = [normal(rng, 2000) for _ in range(8)]
    serial = [fitted.decision_function(b) for b in batches]
    explained = [fitted.explain(b[:5]) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(fitted.decision_function, batches))
        threaded_explained = list(pool.map(lambda b: fitted.explain(b[:5]), batches))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    # Contributions per feature, not their order nor last bits: threads sharing the cores may sum a small
    # matmul in another order, swapping a normal row's near-equal ones (1e-6); a race changes values.
    for a, b in zip(map(dict, sum(explained, [])), map(dict, sum(threaded_explained, [])), strict=True):
        np.testing.assert_allclose([b[f] for f in a], list(a.values()), rtol=1e-5, atol=1e-7)


def test_predict_is_the_score_above_the_threshold(fitted: DHAG, rng) -> None:
    rows = np.vstack([normal(rng, 200), gross_outliers(rng, 50)])
    scores, flags = fitted.decision_function(rows), fitted.predict(rows)
    assert set(np.unique(flags)) <= {0, 1}
    np.testing.assert_array_equal(flags, (scores > fitted.threshold_).astype(int))
    assert 0 < flags.sum() < len(flags)


# -- quality -----------------------------------------------------------------------------------------
def _aurocs(model: DHAG) -> tuple[float, float]:
    """AUROC of normal rows against gross outliers, and against those and relation-breaking rows."""
    gen = np.random.default_rng(1)
    normal_scores = model.decision_function(normal(gen, 300))
    gross = model.decision_function(gross_outliers(gen, 150))
    broken = model.decision_function(relation_broken(gen, 150))
    return auroc(normal_scores, gross), auroc(normal_scores, np.concatenate([gross, broken]))


def test_detects_gross_outliers_and_anomalies_overall(fitted: DHAG) -> None:
    # Measured with model seeds 0-2: gross 0.996-0.999, overall 0.76-0.77 (the relation-breaking half
    # scores at chance, see below). Random scores give 0.5 +- 0.03 here.
    gross, overall = _aurocs(fitted)
    assert gross >= 0.93 and overall >= 0.65


def test_the_reference_recipe_trains_a_detector_as_good_on_these_rows(train_rows: np.ndarray) -> None:
    # As the reference implementation trains (its networks, regularisers and per-class L_ce); measured
    # with model seeds 0-2: gross 0.997-1.000, overall 0.75-0.79, no collapse.
    settings = {"recipe": "reference", "ce_weighting": "classes"}
    model = DHAG(max_epochs=15, batch_size=128, feature_names=FEATURES, random_state=0, **settings)
    model.fit(train_rows)
    assert not model.training_["collapsed"] and len(model.training_["attempts"]) == 1
    gross, overall = _aurocs(model)
    assert gross >= 0.93 and overall >= 0.65


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="with the paper's objective (the default when training does not collapse) measured AUROC "
    "0.49-0.57 (chance) on anomalies that break flow_total = flow_a + flow_b while staying in range; "
    "Mahalanobis distance gets 0.96; shift_weight=1 gets 0.86-0.92 "
    "(test_shifted_row_anomalies_teach_in_range_relations)",
)
def test_detects_anomalies_that_break_a_relation_between_sensors(fitted: DHAG) -> None:
    gen = np.random.default_rng(1)
    normal_scores = fitted.decision_function(normal(gen, 300))
    assert auroc(normal_scores, fitted.decision_function(relation_broken(gen, 150))) >= 0.75


def test_labelled_anomalies_teach_the_model_their_type(rng) -> None:
    # The paper's objective alone (no shifted-row anomalies, which find this cluster by themselves):
    # measured unsupervised 0.75 / 0.70, with 20 labelled cluster rows 1.00 / 1.00 (seeds 0 / 1).
    plain, taught = [], []
    for seed in (0, 1):
        gen = np.random.default_rng(200 + seed)
        rows, known = normal(gen, 800), fault_cluster(gen, 20)
        test_normal, test_fault = normal(gen, 300), fault_cluster(gen, 100)
        params = {"max_epochs": 15, "batch_size": 128, "shift_weight": 0.0, "random_state": seed}
        a = DHAG(**params).fit(rows)
        b = DHAG(**params).fit(np.vstack([rows, known]), np.r_[np.zeros(800), np.ones(20)])
        plain.append(auroc(a.decision_function(test_normal), a.decision_function(test_fault)))
        taught.append(auroc(b.decision_function(test_normal), b.decision_function(test_fault)))
    assert np.mean(taught) >= 0.95, taught
    assert np.mean(taught) >= np.mean(plain) + 0.1, (plain, taught)


def test_training_stops_at_max_steps_and_records_why(quick_model, rng) -> None:
    model = quick_model(max_epochs=50, max_steps=7, batch_size=64).fit(normal(rng, 300))
    assert model.training_["steps"] == 7
    assert model.training_["stopped_by"] == "max_steps"
    assert model.training_["epochs_run"] == 2  # 4 batches of 64 per epoch: the 7th update is in epoch 2


def test_early_stopping_keeps_the_epoch_with_the_lowest_held_out_objective(quick_model, rng) -> None:
    rows = normal(rng, 30)
    seen: dict[int, np.ndarray] = {}
    model = quick_model(max_epochs=30, early_stopping=True, patience=3, batch_size=64).fit(
        normal(rng, 400), on_epoch=lambda record, score: seen.update({int(record["epoch"]): score(rows)})
    )
    history = model.training_["history"]
    best = min(history, key=lambda h: h["val_loss"])
    assert model.training_["best_epoch"] == int(best["epoch"])
    assert model.training_["stopped_by"] == "early_stopping"
    assert model.training_["epochs_run"] == model.training_["best_epoch"] + 3
    # The kept weights are that epoch's, not the last one's.
    assert model.training_["best_epoch"] < model.training_["epochs_run"]
    np.testing.assert_array_equal(model.member_scores(rows)[0], seen[model.training_["best_epoch"]])
    assert not np.array_equal(seen[model.training_["epochs_run"]], seen[model.training_["best_epoch"]])


def test_the_outlier_probe_tells_a_useful_scorer_from_an_inverted_one(rng) -> None:
    rows = normal(rng, 500).astype(np.float32)
    distance = lambda m: np.linalg.norm(m, axis=1)  # noqa: E731
    assert outlier_probe(distance, rows, [0, 1, 2, 3], seed=0) > 0.99
    assert outlier_probe(lambda m: -distance(m), rows, [0, 1, 2, 3], seed=0) < 0.01
    assert outlier_probe(lambda m: np.zeros(len(m)), rows, [0, 1], seed=0) == 0.5


def test_pushed_rows_move_exactly_one_allowed_column_by_six_to_nine(rng) -> None:
    rows = normal(rng, 300).astype(np.float32)
    pushed = pushed_rows(rows, [1, 3], np.random.default_rng(0))
    moved = np.abs(pushed - rows)
    assert ((moved > 0).sum(axis=1) == 1).all()
    assert (moved[:, [0, 2]] == 0).all()
    size = moved.max(axis=1)
    assert (size >= 6 - 1e-4).all() and (size <= 9 + 1e-4).all()
    with pytest.raises(ValueError, match="z-scored column"):
        pushed_rows(rows, [], np.random.default_rng(0))


def test_rank_auroc_matches_the_mann_whitney_statistic(rng) -> None:
    a, b = rng.normal(size=200).round(1), (rng.normal(size=150) + 0.5).round(1)  # with ties
    assert rank_auroc(a, b) == pytest.approx(auroc(a, b), abs=1e-12)
    with pytest.raises(ValueError, match="at least one score"):
        rank_auroc(a, np.array([]))


def test_training_on_no_column_says_so(rng) -> None:
    with pytest.raises(InputError, match=r"Need at least 1 feature \(column\) to train. Got 0."):
        DHAG().fit(np.zeros((10, 0)))  # said "Need at least 2 normal rows", of 10 rows
