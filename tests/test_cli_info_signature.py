"""``dhag info`` on a signed model where no key is set: it says the signature is there and was not
verified, where before it said "signed: yes" of a signature it could not check (one of another
deployment's key, or a forged one, read the same)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.cli import main


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
    assert "does not match" in capsys.readouterr().err


def test_an_unsigned_model_refused_with_a_key_set_is_said_how_to_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # The refusal said only that models signed with the key are loaded, not how to carry one over.
    monkeypatch.delenv("DHAG_ARTIFACT_KEY", raising=False)
    model = one_epoch_model(numbers_csv(tmp_path), tmp_path)
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    capsys.readouterr()
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
