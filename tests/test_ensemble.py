"""DHAG(n_members=N): N networks on the same rows from their own seeds, scored by the mean of their scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, gross_outliers, normal

from dhag import DHAG, ParameterError, load_model, read_manifest
from dhag.ensemble import MEMBER_SEED_STEP, DHAGEnsemble
from dhag.splits import validation_order

SMALL = {"max_epochs": 6, "batch_size": 128, "feature_names": FEATURES}


@pytest.fixture(scope="module")
def ensemble(train_rows: np.ndarray) -> DHAG:
    return DHAG(n_members=3, random_state=5, **SMALL).fit(train_rows)


def test_member_zero_is_the_single_model_and_the_score_is_the_members_mean(
    ensemble: DHAG, train_rows: np.ndarray, rng: np.random.Generator
) -> None:
    rows = np.vstack([normal(rng, 50), gross_outliers(rng, 50)])
    single = DHAG(random_state=5, **SMALL).fit(train_rows)
    members = ensemble.member_scores(rows)
    assert members.shape == (3, 100)
    np.testing.assert_array_equal(members[0], single.decision_function(rows))
    np.testing.assert_allclose(ensemble.decision_function(rows), members.mean(axis=0), rtol=0, atol=1e-12)
    # The other members are other models: another seed each, the same rows.
    assert not np.allclose(members[1], members[0]) and not np.allclose(members[2], members[1])
    other_seed = DHAG(random_state=5 + MEMBER_SEED_STEP, **SMALL).fit(train_rows)
    assert not np.allclose(members[1], other_seed.decision_function(rows))  # other seed, other split
    assert single.member_scores(rows).shape == (1, 100)
    assert "members" not in single.training_


def test_the_threshold_is_calibrated_on_the_ensembles_scores_of_rows_no_member_trained_on(
    ensemble: DHAG, train_rows: np.ndarray
) -> None:
    order, n_val = validation_order(
        len(train_rows), ensemble.validation_fraction, "random", np.random.default_rng(5)
    )
    held_out = np.asarray(train_rows)[order[:n_val]]
    assert ensemble.threshold_ == ensemble.threshold_for(ensemble.decision_function(held_out))
    calibration = ensemble.training_["calibration"]
    assert calibration["rows"] == n_val and calibration["source"] == "validation"


def test_the_training_record_describes_every_member(ensemble: DHAG) -> None:
    record = ensemble.training_["members"]
    assert [m["member"] for m in record] == [0, 1, 2]
    assert [m["seed"] for m in record] == [5, 5 + MEMBER_SEED_STEP, 5 + 2 * MEMBER_SEED_STEP]
    assert all(m["epochs_run"] == 6 and len(m["attempts"]) >= 1 for m in record)
    assert ensemble.training_["collapsed"] == all(m["collapsed"] for m in record)
    assert ensemble.training_["ce_vs_constant"] == min(m["ce_vs_constant"] for m in record)
    assert ensemble.training_["train_seconds"] == pytest.approx(
        sum(m["train_seconds"] for m in record), abs=0.01
    )


def test_an_ensemble_flags_gross_outliers_and_names_the_pushed_sensor(
    ensemble: DHAG, rng: np.random.Generator
) -> None:
    rows = normal(rng, 20)
    rows[:, 3] += 8.0
    assert ensemble.predict(rows).mean() >= 0.9
    assert all(ranked[0][0] == "vibration" for ranked in ensemble.explain(rows, top=1))


def test_save_and_load_give_the_same_ensemble(
    ensemble: DHAG, tmp_path: Path, rng: np.random.Generator
) -> None:
    path = ensemble.save(tmp_path / "ens.dhag")
    assert read_manifest(path)["settings"]["n_members"] == 3
    loaded = load_model(path)
    assert isinstance(loaded.net_, DHAGEnsemble) and loaded.n_members == 3
    rows = gross_outliers(rng, 30)
    np.testing.assert_array_equal(loaded.member_scores(rows), ensemble.member_scores(rows))
    np.testing.assert_array_equal(loaded.decision_function(rows), ensemble.decision_function(rows))
    assert (
        loaded.threshold_ == ensemble.threshold_
        and loaded.training_["members"] == ensemble.training_["members"]
    )


def test_an_artifact_from_before_n_members_loads_as_one_network(
    fitted: DHAG, tmp_path: Path, save_without_setting, rng: np.random.Generator
) -> None:
    path = save_without_setting(fitted, tmp_path / "old.dhag", "n_members")
    assert "n_members" not in read_manifest(path)["settings"]
    loaded = load_model(path)
    rows = normal(rng, 10)
    assert loaded.n_members == 1
    np.testing.assert_array_equal(loaded.decision_function(rows), fitted.decision_function(rows))


def test_a_time_budget_bounds_the_whole_fit_not_each_member(train_rows: np.ndarray) -> None:
    model = DHAG(
        n_members=3,
        max_epochs=10_000,
        max_steps=None,
        time_budget=1.5,
        random_state=0,
        **{k: v for k, v in SMALL.items() if k != "max_epochs"},
    ).fit(train_rows)
    record = model.training_["members"]
    assert all(m["stopped_by"] == "time_budget" for m in record)
    # Each member stops at the first update past its share.
    assert sum(m["train_seconds"] for m in record) < 2.5


def test_epoch_records_say_which_member_they_come_from(train_rows: np.ndarray) -> None:
    seen: list[tuple[float, float]] = []
    DHAG(n_members=2, random_state=1, collapse_retry=False, **(SMALL | {"max_epochs": 2})).fit(
        train_rows, on_epoch=lambda record, score: seen.append((record["member"], record["epoch"]))
    )
    assert seen == [(0.0, 1.0), (0.0, 2.0), (1.0, 1.0), (1.0, 2.0)]


def test_known_anomalies_feed_every_member(train_rows: np.ndarray, rng: np.random.Generator) -> None:
    known = gross_outliers(rng, 40)
    X = np.vstack([train_rows, known])
    y = np.r_[np.zeros(len(train_rows)), np.ones(len(known))].astype(int)
    model = DHAG(n_members=2, random_state=2, **SMALL).fit(X, y)
    assert model.training_["n_known_anomalies"] == 40
    assert (
        model.member_scores(known).mean(axis=1).min()
        > model.member_scores(normal(rng, 40)).mean(axis=1).max()
    )


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_a_bad_member_count_is_refused_naming_the_setting(bad: object, train_rows: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="'n_members'.*an int >= 1"):
        DHAG(n_members=bad, **SMALL).fit(train_rows)


def test_member_scores_refuse_a_row_the_networks_overflow_on_as_scoring_does(ensemble: DHAG) -> None:
    # decision_function refuses such a row (InputError naming it); member_scores gave each network's
    # score as NaN, which read as a member unsure of nothing.
    from plant_data import near_float32_limit

    from dhag import InputError

    bad, _ = near_float32_limit(ensemble)
    rows = np.vstack([normal(np.random.default_rng(3), 3), bad])
    with pytest.raises(InputError, match=r"1 row too large for the model to score.*first: row 3"):
        ensemble.decision_function(rows)
    with pytest.raises(InputError, match=r"1 row too large for the model to score.*first: row 3"):
        ensemble.member_scores(rows)
    assert np.isfinite(ensemble.member_scores(rows[:3])).all()


def test_an_ensemble_explains_a_row_it_scores_exactly_one_by_its_logit(
    ensemble: DHAG, rng: np.random.Generator
) -> None:
    # Every member saturated: the score is 1.0 with any one feature reset, every drop 0.0; the logit of
    # the members' mean probability still ranks the feature pushed furthest first.
    pre, rows = ensemble.preprocessor_, normal(rng, 5)
    for j, scales in [(2, 2000.0), (3, 800.0)]:
        rows[:, j] = pre.means_[FEATURES[j]] + scales * pre.scales_[FEATURES[j]]
    assert (ensemble.decision_function(rows) == 1.0).all()
    assert all(ranked[0][0] == "flow_total" for ranked in ensemble.explain(rows))
    matrix = ensemble.transform(normal(rng, 20))
    logits = ensemble.logit_matrix(matrix)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-logits)), ensemble.score_matrix(matrix), rtol=1e-12)
