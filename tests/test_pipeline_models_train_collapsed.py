"""``models train`` whose training collapsed (the model scores every reading alike) does not replace the
current version: it is refused, the registry unchanged, unless ``--no-promote`` asks for it to be
published aside; a first model, with none current to keep, is still made current."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import plantmodel
from pipeline import registry as reg
from pipeline.cli import main


@pytest.fixture
def collapsing(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Make the plant model's training collapse, as the library records it (an outlier probe at 0.02)."""
    real = plantmodel.train_plant_model

    def train(*args: object, **kwargs: object) -> object:
        model = real(*args, **kwargs)
        model.training_ = dict(model.training_) | {
            "collapsed": True,
            "ce_vs_constant": 1.138,
            "outlier_probe_auroc": 0.02,
            "attempts": [{"shift_weight": 1.0}],
        }
        return model

    def collapse() -> None:
        monkeypatch.setattr(plantmodel, "train_plant_model", train)

    return collapse


def test_a_collapsed_training_does_not_replace_the_current_version(
    tmp_path: Path, capsys, collapsing
) -> None:
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    root = tmp_path / "registry"
    base = ["models", "--registry", str(root), "train", str(history), "--time-budget", "2"]
    assert main([*base, "--version", "v1"]) == 0
    collapsing()
    capsys.readouterr()
    # Before: "v2 is current", a model whose outlier probe ranked pushed readings below the readings
    # themselves, swapped in by the daemons over a working v1.
    assert main([*base, "--version", "v2"]) == 2
    err = capsys.readouterr().err
    assert "models train: refused: the training collapsed" in err and "COLLAPSED" in err
    assert "nothing published, v1 stays current" in err and "--no-promote" in err
    assert reg.current(root)[0] == "v1" and not (root / "v2.dhag").exists()
    assert main([*base, "--version", "v2", "--no-promote"]) == 0  # asked for: published aside
    assert reg.current(root)[0] == "v1" and (root / "v2.dhag").exists()
    assert "v2 is published, not current" in capsys.readouterr().out


def test_a_first_model_is_made_current_though_its_training_collapsed(
    tmp_path: Path, capsys, collapsing
) -> None:
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    collapsing()
    root = tmp_path / "registry"
    assert (
        main(
            [
                "models",
                "--registry",
                str(root),
                "train",
                str(history),
                "--time-budget",
                "2",
                "--version",
                "v1",
            ]
        )
        == 0
    )
    assert reg.current(root)[0] == "v1"
