"""Model artifacts that are damaged, forged or foreign: each is refused with an error naming the file and
what is wrong with it, and nothing of it is run or half loaded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from artifact_support import header, resave
from plant_data import normal
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import dhag.artifact
import dhag.signing
from dhag import DHAG, FORMAT_VERSION, ArtifactError, load_model, read_manifest


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


def test_saving_to_a_folder_is_an_artifact_error_naming_it(fitted: DHAG, tmp_path) -> None:
    # Before: a bare IsADirectoryError from the rename, after the whole artifact was built and written.
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(ArtifactError, match=r"Cannot save the model to .*models'.* is a folder.*model\.dhag"):
        fitted.save(folder)
    assert folder.is_dir() and not list(folder.iterdir())


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
    manifest = json.loads(header(saved.read_bytes())["__metadata__"]["manifest"])
    manifest["threshold"] = 0.999  # silence every alert
    bad = resave(saved, tmp_path / "manifest.dhag", manifest=json.dumps(manifest, sort_keys=True))
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
    meta = header(signed.read_bytes())["__metadata__"]
    manifest = json.loads(meta["manifest"])
    manifest["threshold"] = 0.999  # silence every alert
    forged_json = json.dumps(manifest, sort_keys=True)
    checksum = dhag.artifact._digest(forged_json, st_load(signed.read_bytes()))
    forged = resave(signed, tmp_path / "forged.dhag", manifest=forged_json, checksum=checksum)
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
    assert "signature" not in header(fitted.save(tmp_path / "plain.dhag").read_bytes())["__metadata__"]


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
    assert "signature" not in header(fitted.save(tmp_path / "plain.dhag").read_bytes())["__metadata__"]


def test_another_format_version_is_refused(saved: Path, tmp_path) -> None:
    bad = resave(saved, tmp_path / "v99.dhag", dhag_format="99")
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
    later = resave(saved, tmp_path / "v2.dhag", dhag_format=str(FORMAT_VERSION + 1))
    with pytest.raises(ArtifactError, match="written by a newer version of dhag"):
        load_model(later)
