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
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import dhag.artifact
import dhag.signing
from dhag import DHAG, FORMAT_VERSION, ArtifactError, load_model, read_manifest


@pytest.fixture(scope="session")
def saved(fitted: DHAG, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session model saved once, with user metadata. Tests copy it before damaging it."""
    return fitted.save(tmp_path_factory.mktemp("registry") / "plant.dhag", metadata={"version": 3})


def _header(data: bytes) -> dict:
    return json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])


def _resave(src: Path, dst: Path, **meta_changes: str) -> Path:
    """Rewrite ``src`` with the same tensors and the header metadata changed."""
    data = src.read_bytes()
    meta = _header(data)["__metadata__"] | meta_changes
    dst.write_bytes(st_save(st_load(data), metadata=meta))
    return dst


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

    # Sequences come back as tuples; the device is the one asked for at load time.
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
    assert loaded.categorical == ("mode",) and loaded.passthrough == ("valve_open",)


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
    with pytest.raises(ArtifactError, match="its metadata is not JSON-serialisable"):
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


# -- refusals ----------------------------------------------------------------------------------------
def test_missing_file_is_an_artifact_error_naming_the_path(tmp_path) -> None:
    with pytest.raises(ArtifactError, match=r"Cannot read model artifact .*nowhere\.dhag"):
        load_model(tmp_path / "nowhere.dhag")


def test_loading_a_directory_or_a_device_is_an_artifact_error(tmp_path) -> None:
    with pytest.raises(ArtifactError, match="is not a regular file"):
        load_model(tmp_path)
    # A device reports size 0 and never ends: before, it was read until memory ran out.
    with pytest.raises(ArtifactError, match="is not a regular file"):
        load_model("/dev/zero")


def test_an_artifact_over_the_size_limit_is_refused_and_never_written(
    fitted: DHAG, saved: Path, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(dhag.artifact, "_MAX_BYTES", saved.stat().st_size - 1000)
    with pytest.raises(ArtifactError, match="is over the limit"):
        load_model(saved)
    with pytest.raises(ArtifactError, match="an artifact may hold at most"):
        fitted.save(tmp_path / "big.dhag")
    assert not (tmp_path / "big.dhag").exists()


def test_truncated_file_is_refused(saved: Path, tmp_path) -> None:
    data = saved.read_bytes()
    for cut in (4, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.dhag"
        bad.write_bytes(data[:cut])
        with pytest.raises(ArtifactError, match="truncated or not a safetensors file"):
            load_model(bad)


def test_a_flipped_byte_in_the_weights_fails_the_checksum(saved: Path, tmp_path) -> None:
    data = bytearray(saved.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's data
    bad = tmp_path / "flipped.dhag"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="fails its checksum"):
        load_model(bad)


def test_a_changed_tensor_dtype_in_the_header_is_refused(saved: Path, tmp_path) -> None:
    # The same bytes read as int32 instead of float32 would load as nonsense weights.
    data = bytearray(saved.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    at = 8 + data[8 : 8 + header_len].index(b'"F32"')
    data[at + 1] = ord("I")
    bad = tmp_path / "dtype.dhag"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        load_model(bad)


def test_a_modified_manifest_fails_the_checksum(saved: Path, tmp_path) -> None:
    manifest = json.loads(_header(saved.read_bytes())["__metadata__"]["manifest"])
    manifest["threshold"] = 0.999  # silence every alert
    bad = _resave(saved, tmp_path / "manifest.dhag", manifest=json.dumps(manifest, sort_keys=True))
    with pytest.raises(ArtifactError, match="fails its checksum"):
        load_model(bad)
    with pytest.raises(ArtifactError, match="fails its checksum"):
        read_manifest(bad)


def test_with_a_key_set_only_artifacts_signed_with_it_load(
    fitted: DHAG, saved: Path, tmp_path, monkeypatch, rng
) -> None:
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "plant-secret")
    signed = fitted.save(tmp_path / "signed.dhag")
    rows = normal(rng, 50)
    np.testing.assert_array_equal(load_model(signed).decision_function(rows), fitted.decision_function(rows))
    # The forgery the checksum alone cannot see: the manifest edited and the checksum recomputed.
    meta = _header(signed.read_bytes())["__metadata__"]
    manifest = json.loads(meta["manifest"])
    manifest["threshold"] = 0.999  # silence every alert
    forged_json = json.dumps(manifest, sort_keys=True)
    checksum = dhag.artifact._digest(forged_json, st_load(signed.read_bytes()))
    forged = _resave(signed, tmp_path / "forged.dhag", manifest=forged_json, checksum=checksum)
    with pytest.raises(ArtifactError, match="signature that DHAG_ARTIFACT_KEY does not match"):
        load_model(forged)
    with pytest.raises(ArtifactError, match="is not signed, and DHAG_ARTIFACT_KEY is set"):
        read_manifest(saved)  # written without a key
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "another-plant")
    with pytest.raises(ArtifactError, match="does not match"):
        load_model(signed)
    # Without a key nothing is checked: the forgery loads, which is why a deployment sets one.
    monkeypatch.delenv(dhag.signing.KEY_VARIABLE)
    assert load_model(forged).threshold_ == 0.999
    assert "signature" not in _header(fitted.save(tmp_path / "plain.dhag").read_bytes())["__metadata__"]


def test_a_key_is_rotated_without_refusing_a_model(fitted: DHAG, tmp_path, monkeypatch, rng) -> None:
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "old-secret")
    old = fitted.save(tmp_path / "old.dhag")
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "new-secret")
    with pytest.raises(ArtifactError, match="DHAG_ARTIFACT_KEY does not match"):
        load_model(old)
    # During the rotation the old key still verifies, and nothing new is signed with it.
    monkeypatch.setenv(dhag.signing.PREVIOUS_KEY_VARIABLE, "old-secret")
    rows = normal(rng, 20)
    np.testing.assert_array_equal(load_model(old).decision_function(rows), fitted.decision_function(rows))
    assert read_manifest(old, with_signature=True)["signed_with_previous_key"]
    new = fitted.save(tmp_path / "new.dhag")
    assert not read_manifest(new, with_signature=True)["signed_with_previous_key"]
    dhag.artifact.sign_artifact(old)
    assert not read_manifest(old, with_signature=True)["signed_with_previous_key"]
    # A third key is refused, naming both variables; once the rotation ends, the re-signed model loads.
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "third-secret")
    neither = "neither DHAG_ARTIFACT_KEY nor DHAG_ARTIFACT_PREVIOUS_KEY matches"
    with pytest.raises(ArtifactError, match=neither):
        load_model(new)
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "new-secret")
    monkeypatch.delenv(dhag.signing.PREVIOUS_KEY_VARIABLE)
    assert load_model(old).threshold_ == fitted.threshold_
    # The previous key alone signs nothing and verifies nothing.
    monkeypatch.delenv(dhag.signing.KEY_VARIABLE)
    monkeypatch.setenv(dhag.signing.PREVIOUS_KEY_VARIABLE, "old-secret")
    assert "signature" not in _header(fitted.save(tmp_path / "plain.dhag").read_bytes())["__metadata__"]


def test_another_format_version_is_refused(saved: Path, tmp_path) -> None:
    bad = _resave(saved, tmp_path / "v99.dhag", dhag_format="99")
    with pytest.raises(ArtifactError, match=f"format version 99; this build reads version {FORMAT_VERSION}"):
        load_model(bad)


def test_a_safetensors_file_that_is_not_a_dhag_model_is_refused(tmp_path) -> None:
    bad = tmp_path / "other.safetensors"
    bad.write_bytes(st_save({"weight": torch.zeros(2, 2)}))
    with pytest.raises(ArtifactError, match="no 'dhag_format' marker"):
        load_model(bad)


def test_random_bytes_are_refused(tmp_path) -> None:
    bad = tmp_path / "noise.dhag"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ArtifactError, match="not a readable DHAG model"):
        load_model(bad)


class _Payload:
    """A pickle that creates a file when unpickled: what a malicious 'model' would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_malicious_pickle_is_refused_and_never_run(tmp_path) -> None:
    # The payload works: unpickling it does create its marker file.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof))).close()
    assert proof.exists()

    marker = tmp_path / "pwned"
    for name, write in [
        ("plain.dhag", lambda p: p.write_bytes(pickle.dumps(_Payload(marker)))),
        ("torch.dhag", lambda p: torch.save({"net": _Payload(marker)}, p)),
    ]:
        bad = tmp_path / name
        write(bad)
        with pytest.raises(ArtifactError, match="not a readable DHAG model"):
            load_model(bad)
        assert not marker.exists()


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


def test_an_artifact_with_settings_this_version_does_not_know_is_refused_naming_them(
    fitted: DHAG, tmp_path: Path
) -> None:
    # What a later release writes once it has added settings: the format is the same, the settings not.
    manifest, tensors, _ = dhag.artifact._read(fitted.save(tmp_path / "now.dhag"))
    manifest["settings"] |= {"attention_heads": 4, "calibration": "isotonic"}
    later = dhag.artifact.write_artifact(tmp_path / "later.dhag", manifest, tensors)
    with pytest.raises(ArtifactError) as caught:
        load_model(later)
    message = str(caught.value)
    assert str(later) in message and "a newer version of dhag" in message
    assert "'attention_heads', 'calibration'" in message
    assert "load it with that version or a later one" in message


def test_a_later_format_version_is_refused_as_a_newer_versions_file(saved: Path, tmp_path) -> None:
    later = _resave(saved, tmp_path / "v2.dhag", dhag_format=str(FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match="written by a newer version of dhag"):
        load_model(later)
