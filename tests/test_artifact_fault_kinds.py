"""Why an artifact is refused, as a caller can tell it apart: a later release's (:class:`ArtifactTooNewError`:
that release loads it), one not signed with the deployment's key (:class:`ArtifactSignatureError`), and
anything else (a plain :class:`ArtifactError`: damaged, not a model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_support import resave

import dhag.artifact
import dhag.signing
from dhag import ArtifactError, ArtifactSignatureError, ArtifactTooNewError, load_model, read_manifest


def _kind(path: Path) -> type[BaseException]:
    with pytest.raises(ArtifactError) as caught:
        dhag.artifact.check_settings(path, read_manifest(path))
    return type(caught.value)


def test_a_later_format_or_an_unknown_setting_is_a_later_releases_artifact(saved: Path, tmp_path) -> None:
    assert _kind(resave(saved, tmp_path / "v99.dhag", dhag_format="99")) is ArtifactTooNewError
    assert _kind(resave(saved, tmp_path / "v0.dhag", dhag_format="0")) is ArtifactError  # an earlier one
    manifest, tensors, _ = dhag.artifact._read(saved)
    manifest["settings"] |= {"attention_heads": 4}
    later = dhag.artifact.write_artifact(tmp_path / "later.dhag", manifest, tensors)
    with pytest.raises(ArtifactTooNewError, match="written by a newer version of dhag"):
        load_model(later)


def test_an_unsigned_or_foreign_signed_artifact_is_a_signature_error(
    saved: Path, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "plant-a")
    assert _kind(saved) is ArtifactSignatureError  # written without a key
    signed = dhag.artifact.sign_artifact(saved, tmp_path / "signed.dhag")
    monkeypatch.setenv(dhag.signing.KEY_VARIABLE, "plant-b")
    assert _kind(signed) is ArtifactSignatureError
    monkeypatch.setenv(dhag.signing.PREVIOUS_KEY_VARIABLE, "plant-c")
    assert _kind(signed) is ArtifactSignatureError


def test_a_truncated_artifact_is_neither(saved: Path, tmp_path) -> None:
    cut = tmp_path / "cut.dhag"
    cut.write_bytes(saved.read_bytes()[:200])
    assert _kind(cut) is ArtifactError
    cut.write_bytes(saved.read_bytes()[:-100])
    assert _kind(cut) is ArtifactError
