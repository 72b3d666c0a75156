"""``models --registry`` given empty (a script's unset variable) or naming a file: refused at once,
naming what was given, never acting on model.registry instead nor training for minutes first."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import registry as reg
from pipeline.cli import main


@pytest.mark.parametrize("action", [["list"], ["prune", "--keep", "1"], ["rollback"], ["hold"]])
def test_an_empty_registry_option_is_refused_not_taken_for_the_configured_one(
    fitted, tmp_path: Path, capsys, monkeypatch, action
) -> None:
    configured = tmp_path / "configured"
    for version in ("v1", "v2", "v3"):
        reg.publish(configured, fitted, version)
    monkeypatch.setenv("DHAG_PIPELINE_MODEL__REGISTRY", str(configured))
    # Before: `--registry "$STAGING"` with STAGING unset acted on model.registry: prune removed its
    # versions, rollback switched it, exit 0.
    assert main(["models", "--registry", "", *action]) == 2
    assert (
        capsys.readouterr().err
        == f"models {action[0]}: refused: --registry is empty: give the registry folder\n"
    )
    assert sorted(p.name for p in configured.glob("*.dhag")) == ["v1.dhag", "v2.dhag", "v3.dhag"]
    assert reg.current(configured)[0] == "v3"


def test_a_registry_that_is_a_file_is_named_as_one(tmp_path: Path, capsys) -> None:
    given = tmp_path / "history.csv"
    given.write_text("t,asset_id\n")
    assert main(["models", "--registry", str(given), "list"]) == 2
    assert capsys.readouterr().err == f"models list: refused: the registry {str(given)!r} is not a folder\n"


def test_train_into_a_registry_that_is_a_file_is_refused_before_it_trains(tmp_path: Path, capsys) -> None:
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    capsys.readouterr()
    # Before: it trained (a minute on a real history), then "refused: ... File exists".
    assert main(["models", "--registry", str(history), "train", str(history)]) == 2
    err = capsys.readouterr().err
    assert err == f"models train: refused: the registry {str(history)!r} is not a folder\n"
