"""The model artifact: a faithful round trip, an atomic write, and refusal of anything damaged or foreign."""

from __future__ import annotations

import copy as copy_module
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from plant_data import FEATURES, gross_outliers, normal

import dhag.artifact
import dhag.signing
from dhag import DHAG, FORMAT_VERSION, ArtifactError, load_model, read_manifest


# -- round trip --------------------------------------------------------------------------------------
def test_load_gives_identical_scores_threshold_and_names(fitted: DHAG, saved: Path, rng) -> None:
    loaded = load_model(saved)
    rows = np.vstack([normal(rng, 100), gross_outliers(rng, 20)])
    np.testing.assert_array_equal(loaded.decision_function(rows), fitted.decision_function(rows))
    np.testing.assert_array_equal(loaded.predict(rows), fitted.predict(rows))
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.feature_names_in_ == FEATURES
    assert loaded.explain(rows[-3:]) == fitted.explain(rows[-3:])


@pytest.mark.parametrize("settings", [{}, {"n_members": 2, "snapshots": 2, "max_epochs": 4}])
def test_a_pickled_or_copied_model_scores_as_the_model_does(tmp_path, rng, settings: dict) -> None:
    # Not an artifact (save/load are that: no code runs on load), but what multiprocessing, joblib and
    # a notebook's copies use.
    model = DHAG(batch_size=64, random_state=0, **({"max_epochs": 2} | settings)).fit(normal(rng, 300))
    rows = normal(rng, 20)
    for copy in (pickle.loads(pickle.dumps(model)), copy_module.deepcopy(model)):
        np.testing.assert_array_equal(copy.decision_function(rows), model.decision_function(rows))
        assert copy.threshold_ == model.threshold_ and copy.feature_names_in_ == model.feature_names_in_
        assert copy.get_params() == model.get_params()


@pytest.mark.parametrize("settings", [{}, {"n_members": 2}])
def test_load_leaves_the_global_torch_random_stream_alone(tmp_path, rng, settings: dict) -> None:
    path = (
        DHAG(max_epochs=2, batch_size=64, random_state=0, **settings)
        .fit(normal(rng, 300))
        .save(tmp_path / "m.dhag")
    )
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(path)
    assert torch.equal(torch.rand(3), expected), "load consumed the process-wide torch RNG"


def test_load_keeps_settings_training_record_and_metadata(fitted: DHAG, saved: Path) -> None:
    loaded = DHAG.load(saved)

    # As built (tests/test_loaded_settings.py); the device is masked, fitted and loaded models alike.
    def settings(model: DHAG) -> dict:
        return json.loads(json.dumps(model.get_params() | {"device": None}))

    assert settings(loaded) == settings(fitted)
    assert (
        loaded.shift_range == (2.0, 4.0)
        and loaded.shift_mode == "offset"
        and loaded.ce_target is fitted.ce_target is None
    )
    assert loaded.collapse_retry is fitted.collapse_retry is True
    assert loaded.preprocessor_.to_dict() == fitted.preprocessor_.to_dict()
    assert loaded.training_ == fitted.training_
    assert loaded.metadata_ == {"version": 3}
    manifest = read_manifest(saved)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["feature_names"] == FEATURES
    assert manifest["threshold"] == fitted.threshold_
    assert manifest["metadata"] == {"version": 3}


def test_categorical_and_passthrough_preprocessing_survive_the_round_trip(tmp_path, rng) -> None:
    frame = pd.DataFrame(normal(rng, 200), columns=FEATURES).assign(
        mode=rng.choice(["run", "idle"], 200), valve_open=rng.integers(0, 2, 200)
    )
    model = DHAG(
        max_epochs=2, batch_size=64, categorical=["mode"], passthrough=["valve_open"], random_state=0
    ).fit(frame)
    loaded = load_model(model.save(tmp_path / "m.dhag"))
    probe = frame.head(5).assign(mode=["run", "idle", "cleaning", "run", "idle"])
    np.testing.assert_array_equal(loaded.transform(probe), model.transform(probe))
    np.testing.assert_array_equal(loaded.decision_function(probe), model.decision_function(probe))
    assert loaded.categorical == ["mode"] and loaded.passthrough == ["valve_open"]


def test_a_model_with_no_z_scored_column_is_saved(tmp_path, rng) -> None:
    # Before, its outlier probe (nothing to probe) was NaN, which JSON refuses: it trained, never saved.
    frame = pd.DataFrame({"mode": rng.choice(["run", "idle", "wash"], 100), "valve": rng.integers(0, 2, 100)})
    model = DHAG(max_epochs=2, categorical=["mode"], passthrough=["valve"], random_state=0).fit(frame)
    loaded = load_model(model.save(tmp_path / "m.dhag"))
    assert loaded.training_["outlier_probe_auroc"] is None
    np.testing.assert_array_equal(loaded.decision_function(frame), model.decision_function(frame))


def test_settings_given_as_numpy_or_pandas_values_are_saved_as_plain_json(tmp_path, rng) -> None:
    frame = pd.DataFrame(normal(rng, 200), columns=FEATURES).assign(mode=rng.choice(["run", "idle"], 200))
    model = DHAG(max_epochs=2, categorical=frame.columns[-1:], random_state=np.int64(3)).fit(frame)
    settings = read_manifest(model.save(tmp_path / "m.dhag"))["settings"]
    assert settings["categorical"] == ["mode"] and settings["random_state"] == 3
    model.metadata_ = {"owner": object()}
    with pytest.raises(ArtifactError, match=r"metadata_\['owner'\] is of type object"):
        model.save(tmp_path / "bad.dhag")


# -- atomic write ------------------------------------------------------------------------------------
def test_a_new_model_file_gets_the_umask_mode_and_a_replaced_one_keeps_its_own(
    fitted: DHAG, tmp_path
) -> None:
    # mkstemp makes 0600 files: a daemon running as another user could not read what the retrainer wrote.
    old = os.umask(0o027)
    try:
        path = fitted.save(tmp_path / "m.dhag")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    path.chmod(0o604)
    fitted.save(path)
    assert path.stat().st_mode & 0o777 == 0o604


def test_save_leaves_only_the_model_file(fitted: DHAG, tmp_path) -> None:
    path = fitted.save(tmp_path / "nested" / "m.dhag")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.dhag"]


def test_a_failed_write_leaves_the_old_model_intact_and_no_temp_file(
    fitted: DHAG, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = fitted.save(tmp_path / "m.dhag")
    before = path.read_bytes()
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        if os.fstat(fd).st_size:  # the temp file, after its bytes were written
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(dhag.artifact.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fitted.save(path, metadata={"version": 4})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dhag"]
    assert load_model(path).metadata_ == {}


def _later_default(setting: str, value: object, patch: pytest.MonkeyPatch) -> None:
    """Make ``value`` DHAG's default for ``setting``, as a later version of the library might."""
    assert setting in DHAG.__init__.__kwdefaults__
    patch.setattr(DHAG.__init__, "__kwdefaults__", {**DHAG.__init__.__kwdefaults__, setting: value})


def test_an_artifact_from_before_shift_mode_loads_with_the_rule_it_was_trained_with(
    fitted: DHAG, tmp_path: Path, save_without_setting
) -> None:
    path = save_without_setting(fitted, tmp_path / "old.dhag", "shift_mode")
    assert "shift_mode" not in read_manifest(path)["settings"]
    # The rule comes from the loader, not from whatever DHAG's default is when the file is read.
    with pytest.MonkeyPatch.context() as patch:
        _later_default("shift_mode", "beyond", patch)
        loaded = load_model(path)
    assert loaded.shift_mode == "offset"
    np.testing.assert_array_equal(
        loaded.decision_function(normal(np.random.default_rng(0), 20)),
        fitted.decision_function(normal(np.random.default_rng(0), 20)),
    )


def test_an_artifact_from_before_retry_ce_target_keeps_the_retry_it_was_trained_with(
    fitted: DHAG, tmp_path: Path, save_without_setting
) -> None:
    assert fitted.retry_ce_target is None  # the library default since docs/benchmarks.md 1.6
    path = save_without_setting(fitted, tmp_path / "old.dhag", "retry_ce_target")
    assert "retry_ce_target" not in read_manifest(path)["settings"]
    # Models saved before the setting existed retried with the L_ce controller; a retrain keeps that.
    assert load_model(path).retry_ce_target == 0.9
    assert load_model(fitted.save(tmp_path / "new.dhag")).retry_ce_target is None


@pytest.mark.parametrize(
    ("setting", "value", "before"),
    [
        # Artifacts from before perturbator_game existed were trained by Algorithm 1's cooperative game,
        ("perturbator_game", "adversarial", "cooperative"),
        # and those from before ce_weighting existed weighed L_ce row by row; those from before
        # snapshots existed kept one state per training (their network count is n_members).
        ("ce_weighting", "classes", "rows"),
        ("snapshots", 3, 1),
        # Those from before allow_many_categories existed refused a categorical that looks like an id.
        ("allow_many_categories", True, False),
    ],
)
def test_a_training_setting_travels_with_the_model(
    setting: str,
    value: str | int,
    before: str | int,
    train_rows: np.ndarray,
    tmp_path: Path,
    save_without_setting,
) -> None:
    model = DHAG(max_epochs=3, batch_size=128, feature_names=FEATURES, random_state=0, **{setting: value})
    model.fit(train_rows)
    loaded = load_model(model.save(tmp_path / "model.dhag"))
    assert getattr(loaded, setting) == value
    rows = normal(np.random.default_rng(1), 20)
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    path = save_without_setting(model, tmp_path / "old.dhag", setting)
    assert setting not in read_manifest(path)["settings"]
    assert getattr(load_model(path), setting) == before
    # Should the library's default change, the old artifact still loads with what it was trained with.
    with pytest.MonkeyPatch.context() as patch:
        _later_default(setting, value, patch)
        assert DHAG().get_params()[setting] == value
        assert getattr(load_model(path), setting) == before


def test_the_recipe_travels_with_the_model_and_its_weights_fit_no_other_layout(
    fitted: DHAG, train_rows: np.ndarray, tmp_path: Path, save_without_setting
) -> None:
    model = DHAG(max_epochs=3, batch_size=128, feature_names=FEATURES, random_state=0, recipe="reference")
    model.fit(train_rows)
    loaded = load_model(model.save(tmp_path / "model.dhag"))
    assert loaded.recipe == "reference"
    rows = normal(np.random.default_rng(1), 20)
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    # Artifacts from before the setting existed were built as the paper, and load so.
    assert load_model(save_without_setting(fitted, tmp_path / "old.dhag", "recipe")).recipe == "paper"
    # A reference model's weights under a manifest that reads "paper" are refused, not half loaded.
    with pytest.raises(ArtifactError, match="inconsistent"):
        load_model(save_without_setting(model, tmp_path / "relabelled.dhag", "recipe"))


@pytest.mark.parametrize("threshold", [1.5, -0.25, float("inf"), float("nan")])
def test_a_threshold_loading_would_refuse_is_refused_at_save_and_nothing_written(
    fitted: DHAG, tmp_path, threshold: float
) -> None:
    # load_model refuses a threshold outside [0, 1] (or not a number), but save wrote one: an artifact
    # that could never be loaded, found only when a daemon or a promote tried.
    import copy

    odd = copy.copy(fitted)
    odd.threshold_ = threshold
    with pytest.raises(ArtifactError, match=rf"cannot be saved: its threshold {threshold} .*\[0, 1\]"):
        odd.save(tmp_path / "odd.dhag")
    assert not (tmp_path / "odd.dhag").exists()
    for edge in (0.0, 1.0):  # the bounds load: saved as they are
        odd.threshold_ = edge
        assert load_model(odd.save(tmp_path / f"{edge}.dhag")).threshold_ == edge
