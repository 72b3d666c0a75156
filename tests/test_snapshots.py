"""DHAG(snapshots=S): one training scored by the mean of S of its own end-of-epoch states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, gross_outliers, normal

from dhag import DHAG, ParameterError, load_model, read_manifest
from dhag.artifact import _read, write_artifact
from dhag.ensemble import DHAGEnsemble

SMALL = {"max_epochs": 8, "batch_size": 128, "feature_names": FEATURES, "random_state": 3}


@pytest.fixture(scope="module")
def snapshots(train_rows: np.ndarray) -> DHAG:
    return DHAG(snapshots=4, **SMALL).fit(train_rows)


def test_the_snapshots_are_states_of_the_second_half_the_last_being_the_single_model(
    snapshots: DHAG, train_rows: np.ndarray, rng: np.random.Generator
) -> None:
    assert snapshots.training_["snapshot_epochs"] == [5, 6, 7, 8]
    assert isinstance(snapshots.net_, DHAGEnsemble) and len(snapshots.net_.members) == 4
    rows = np.vstack([normal(rng, 40), gross_outliers(rng, 40)])
    each = snapshots.member_scores(rows)
    single = DHAG(**SMALL).fit(train_rows)
    # Keeping states does not change the training: the last state is the model a plain fit keeps.
    np.testing.assert_array_equal(each[-1], single.decision_function(rows))
    np.testing.assert_allclose(snapshots.decision_function(rows), each.mean(axis=0), rtol=0, atol=1e-12)
    assert not np.allclose(each[0], each[-1])  # other epochs, other models
    assert snapshots.training_["epochs_run"] == single.training_["epochs_run"] == 8
    assert "snapshot_epochs" not in single.training_
    # The threshold is calibrated on the mean score, as for any ensemble.
    assert snapshots.predict(gross_outliers(rng, 20)).mean() >= 0.9


def test_a_snapshot_ensemble_round_trips_through_its_artifact(
    snapshots: DHAG, tmp_path: Path, rng: np.random.Generator
) -> None:
    path = snapshots.save(tmp_path / "snap.dhag")
    manifest = read_manifest(path)
    assert manifest["networks"] == 4 and manifest["settings"]["snapshots"] == 4
    loaded = load_model(path)
    rows = gross_outliers(rng, 30)
    np.testing.assert_array_equal(loaded.member_scores(rows), snapshots.member_scores(rows))
    assert loaded.threshold_ == snapshots.threshold_
    assert loaded.training_["snapshot_epochs"] == [5, 6, 7, 8]


def test_an_artifact_from_before_the_network_count_loads_its_members(
    train_rows: np.ndarray, tmp_path: Path, rng: np.random.Generator
) -> None:
    ensemble = DHAG(n_members=2, **SMALL | {"max_epochs": 2}).fit(train_rows)
    manifest, tensors, _ = _read(ensemble.save(tmp_path / "new.dhag"))
    del manifest["networks"]
    assert "snapshots" not in manifest["settings"]  # at 1, its value from before it existed: left out
    old = write_artifact(tmp_path / "old.dhag", manifest, tensors)
    loaded = load_model(old)
    assert loaded.snapshots == 1 and len(loaded.net_.members) == 2
    rows = normal(rng, 10)
    np.testing.assert_array_equal(loaded.decision_function(rows), ensemble.decision_function(rows))


def test_members_each_keep_their_snapshots(train_rows: np.ndarray, rng: np.random.Generator) -> None:
    both = DHAG(n_members=2, snapshots=3, **SMALL).fit(train_rows)
    rows = normal(rng, 5)
    each = both.member_scores(rows)
    assert each.shape == (6, 5) and len(both.training_["members"]) == 2
    # Rows 0-2 are member 0's three states, as the single fit of the same seed keeps them; rows 3-5
    # are the other member's, trained from its own seed on the same rows.
    alone = DHAG(snapshots=3, **SMALL).fit(train_rows)
    np.testing.assert_array_equal(each[:3], alone.member_scores(rows))
    assert not np.allclose(each[:3], each[3:], atol=1e-3)


def test_a_training_stopped_before_its_snapshots_keeps_its_last_weights(train_rows: np.ndarray) -> None:
    # The time budget ends training after its first epoch, before the second half it planned.
    det = DHAG(snapshots=4, time_budget=1e-6, **SMALL | {"max_epochs": 50}).fit(train_rows)
    assert det.training_["stopped_by"] == "time_budget" and det.training_["epochs_run"] == 1
    assert not isinstance(det.net_, DHAGEnsemble) and "snapshot_epochs" not in det.training_


@pytest.mark.parametrize(
    ("settings", "allowed"),
    [
        ({"snapshots": 0}, "an int >= 1"),
        ({"snapshots": 2.0}, "an int >= 1"),
        ({"snapshots": 3, "average_weights": True}, "average_weights"),
        ({"snapshots": 3, "early_stopping": True}, "early_stopping"),
    ],
)
def test_bad_snapshot_settings_are_refused_naming_the_setting(
    settings: dict, allowed: str, train_rows: np.ndarray
) -> None:
    with pytest.raises(ParameterError, match=f"'snapshots'.*{allowed}"):
        DHAG(**settings).fit(train_rows)


def test_a_retried_training_keeps_the_snapshots_of_the_retry(train_rows: np.ndarray) -> None:
    # The tiny learning rate of the retry tests: the first training collapses and is trained again.
    params = {"max_epochs": 4, "batch_size": 128, "lr": 1e-7, "random_state": 0, "snapshots": 2}
    rows = normal(np.random.default_rng(4), 30)
    seen: dict[tuple[float, float], np.ndarray] = {}
    model = DHAG(**params).fit(
        train_rows,
        on_epoch=lambda record, score: seen.update({(record["attempt"], record["epoch"]): score(rows)}),
    )
    assert len(model.training_["attempts"]) == 2 and model.training_["snapshot_epochs"] == [3, 4]
    each = model.member_scores(rows)
    np.testing.assert_array_equal(each[0], seen[(2.0, 3.0)])
    np.testing.assert_array_equal(each[1], seen[(2.0, 4.0)])


def test_fewer_snapshots_than_asked_are_kept_with_a_warning_saying_why(
    train_rows: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    # snapshots=10 over 6 epochs kept 3 states (and over 2 epochs the network alone) without a word: the
    # user believed the model scored with the mean of 10.
    with caplog.at_level("WARNING", logger="dhag"):
        model = DHAG(snapshots=10, **SMALL | {"max_epochs": 6}).fit(train_rows)
    assert model.training_["snapshot_epochs"] == [4, 5, 6] and len(model.net_.members) == 3
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("snapshots=")]
    assert said == [
        "snapshots=10, but the training kept 3 end-of-epoch state(s), which the model scores with: the "
        "second half of its 6 planned epochs holds only 3; more max_epochs (or max_steps) make room for more"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="dhag"):
        DHAG(snapshots=3, **SMALL | {"max_epochs": 6}).fit(train_rows)  # as many as asked: no word
    assert not [r for r in caplog.records if r.getMessage().startswith("snapshots=")]
