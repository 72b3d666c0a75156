"""``dhag info`` on a signed model where no key is set: it says the signature is there and was not
verified, where before it said "signed: yes" of a signature it could not check (one of another
deployment's key, or a forged one, read the same); and on a model the key set refuses (unsigned, or
another key's), it describes the model, says so and exits 2, where before it said only the refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.artifact import load_model, read_manifest
from dhag.cli import main
from dhag.exceptions import ArtifactSignatureError


@pytest.fixture(scope="module")
def signed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("signed")
    model = one_epoch_model(numbers_csv(folder), folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
        assert main(["sign", str(model)]) == 0
    return model


def test_info_without_a_key_says_a_signature_was_not_verified(
    signed_model: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("DHAG_ARTIFACT_KEY", raising=False)
    monkeypatch.delenv("DHAG_ARTIFACT_PREVIOUS_KEY", raising=False)
    capsys.readouterr()
    assert main(["info", str(signed_model)]) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("signed:")]
    assert said == [
        "signed: a signature, not verified: DHAG_ARTIFACT_KEY is not set (set it to check the signature, "
        "as every load then does)"
    ]
    assert main(["info", str(signed_model), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["signed"] is True and manifest["signature_verified"] is False


def test_info_with_the_key_says_the_signature_was_verified(
    signed_model: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    capsys.readouterr()
    assert main(["info", str(signed_model)]) == 0
    assert "signed: yes, with the key in DHAG_ARTIFACT_KEY\n" in capsys.readouterr().out
    assert main(["info", str(signed_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["signature_verified"] is True
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "another-plant")
    assert main(["info", str(signed_model)]) == 2
    out, err = capsys.readouterr()
    assert "does not match" in err and "features (2): a, b\n" in out
    assert (
        "signed: a signature that DHAG_ARTIFACT_KEY does not match (another key's, or modified): loading "
        "and scoring refuse it\n"
    ) in out


def _unsigned_model_under_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A model written with no key set, then DHAG_ARTIFACT_KEY set (training's output read away)."""
    monkeypatch.delenv("DHAG_ARTIFACT_KEY", raising=False)
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    capsys.readouterr()
    return model


def test_an_unsigned_model_refused_with_a_key_set_is_said_how_to_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # The refusal said only that models signed with the key are loaded, not how to carry one over.
    model = _unsigned_model_under_a_key(tmp_path, monkeypatch, capsys)
    for argv in (
        ["info", str(model)],
        ["score", "--model", str(model), "--data", str(tmp_path / "rows.csv")],
    ):
        assert main(argv) == 2
        assert capsys.readouterr().err.endswith(
            "only models signed with this deployment's key are loaded; one written before the key was set "
            f"is signed with it by dhag sign {model}.\n"
        )
    assert main(["sign", str(model)]) == 0 and main(["info", str(model)]) == 0


def test_info_describes_an_unsigned_model_a_key_refuses_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # info, the tool to find out what a model is, refused to say anything of one the key refuses.
    model = _unsigned_model_under_a_key(tmp_path, monkeypatch, capsys)
    assert main(["info", str(model)]) == 2  # as score's status: a script that checks a model sees it
    out, err = capsys.readouterr()
    assert out.startswith("DHAG model, format 1\nfeatures (2): a, b\n") and "threshold: " in out
    said = [line for line in out.splitlines() if line.startswith("signed:")]
    assert said == [
        f"signed: no, and DHAG_ARTIFACT_KEY is set: loading and scoring refuse it; dhag sign {model} signs "
        "it with the key"
    ]
    assert err.startswith(f"dhag info: error: Model artifact '{model}' is not signed")
    assert err.count("\n") == 1
    assert main(["info", str(model), "--json"]) == 2
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["feature_names"] == ["a", "b"] and manifest["signed"] is False
    assert "is not signed" in manifest["signature_refused"] and manifest["signature_verified"] is False
    with pytest.raises(ArtifactSignatureError, match="is not signed"):
        load_model(model)
    with pytest.raises(ArtifactSignatureError, match="is not signed"):
        read_manifest(model)
