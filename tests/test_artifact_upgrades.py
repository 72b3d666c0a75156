"""Artifacts across releases: a release refuses a manifest listing a setting it does not know, so a model
is written without the settings at the value from before they existed (dhag/legacy.py), and an earlier
release loads it; a model that needs a later setting is still refused there."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from plant_data import FEATURES, normal

import dhag.artifact
from dhag import DHAG, ArtifactError, load_model, read_manifest
from dhag.legacy import ALWAYS_WRITTEN, BEFORE_IT_EXISTED, NONE_MEANT
from pipeline.plantmodel import PLANT_MODEL_SETTINGS

# The settings of the first artifact format (commit c12b75c): always written, known to every release.
FIRST_FORMAT = {
    "latent_dim", "encoder_layers", "n_perturbators", "perturbator_hidden", "discriminator_hidden", "k",
    "lambda_norm", "lambda_div", "batch_size", "lr", "discriminator_lr", "discriminator_decay_epoch",
    "discriminator_decay", "known_weight", "max_epochs", "time_budget", "early_stopping", "patience",
    "min_delta", "validation_fraction", "target_far", "contamination", "categorical", "passthrough",
    "feature_names", "device", "bf16", "random_state", "progress",
}  # fmt: skip
# The settings the release of 532b19f knew: all but recipe (d2027ec). Its loader refused nothing by name
# then (an unexpected keyword made the model "inconsistent"); later ones name what they do not know.
BEFORE_RECIPE = set(inspect.signature(DHAG).parameters) - {"recipe"}
# And one from before perturbator_game (188b71d): it knew neither that nor what came after.
BEFORE_GAMES = BEFORE_RECIPE - {"perturbator_game", "n_members", "ce_weighting", "snapshots"}
# And one from before min_threshold (1e4abdc), which knew neither retry_ce_target nor average_weights.
BEFORE_FLOOR = BEFORE_GAMES - {"min_threshold", "average_weights", "retry_ce_target"}


def _earlier_release(known: set[str], patch: pytest.MonkeyPatch) -> None:
    """Make load_model refuse, as a release knowing only ``known`` does, any setting outside them."""
    patch.setattr(dhag.artifact, "_known_settings", lambda: frozenset(known))


def _model(rows: np.ndarray, **settings: object) -> DHAG:
    quick = {"max_epochs": 3, "batch_size": 128, "feature_names": FEATURES, "random_state": 0}
    return DHAG(**(quick | settings)).fit(rows)


def test_every_setting_added_since_the_first_format_is_classified() -> None:
    # A setting added later is either left out at the value from before it, or always written (and
    # an earlier release refuses every model of the new one): the choice is made, not forgotten.
    added = set(inspect.signature(DHAG).parameters) - FIRST_FORMAT
    assert added == set(BEFORE_IT_EXISTED) | ALWAYS_WRITTEN
    for name, value in BEFORE_IT_EXISTED.items():
        if name not in ALWAYS_WRITTEN:
            # The default reproduces the earlier releases (so a default model loads there), or, as
            # retry_ce_target, the default of the release that added it did not.
            assert value == DHAG().get_params()[name] or name == "retry_ce_target"


def test_a_default_model_leaves_out_the_settings_at_their_value_from_before(
    fitted: DHAG, tmp_path: Path
) -> None:
    written = read_manifest(fitted.save(tmp_path / "m.dhag"))["settings"]
    left_out = {
        "ce_target", "shift_weight", "validation_split", "min_threshold", "average_weights",
        "perturbator_game", "n_members", "ce_weighting", "snapshots", "recipe", "allow_many_categories",
    }  # fmt: skip
    assert set(written) == set(fitted.get_params()) - left_out
    assert written["retry_ce_target"] is None  # the default since docs/benchmarks.md 1.6: not as before


@pytest.mark.parametrize(
    ("plant", "known"),
    [(False, BEFORE_RECIPE), (False, BEFORE_GAMES), (True, BEFORE_FLOOR | {"min_threshold"})],
    ids=["default before recipe", "default before games", "plant model's with min_threshold"],
)
def test_an_earlier_release_loads_a_later_model_and_scores_it_the_same(
    fitted: DHAG, train_rows: np.ndarray, tmp_path: Path, plant: bool, known: set[str]
) -> None:
    model = (
        _model(train_rows, **(PLANT_MODEL_SETTINGS | {"max_epochs": 3, "time_budget": None}))
        if plant
        else fitted
    )
    path = model.save(tmp_path / "m.dhag")
    rows = normal(np.random.default_rng(2), 50)
    with pytest.MonkeyPatch.context() as patch:
        _earlier_release(known, patch)
        loaded = load_model(path)
    np.testing.assert_array_equal(loaded.decision_function(rows), model.decision_function(rows))
    assert loaded.threshold_ == model.threshold_
    # The settings a retrain from it starts with: the fitted model's, as JSON holds them (the plant's
    # target_far of 0.01 as unset, which is that rate: dhag.legacy.NONE_MEANT).
    unset = {"target_far": None} if model.target_far == NONE_MEANT["target_far"] else {}
    assert json.loads(json.dumps(loaded.get_params() | {"device": None})) == json.loads(
        json.dumps(model.get_params() | {"device": None} | unset)
    )


@pytest.mark.parametrize(
    ("setting", "value", "known"),
    [
        ("recipe", "reference", BEFORE_RECIPE),
        ("snapshots", 2, BEFORE_GAMES),
        ("perturbator_game", "adversarial", BEFORE_GAMES),
        ("min_threshold", 0.5, BEFORE_FLOOR),
    ],
)
def test_an_earlier_release_refuses_a_model_that_needs_a_later_setting(
    train_rows: np.ndarray, tmp_path: Path, setting: str, value: object, known: set[str]
) -> None:
    path = _model(train_rows, **{setting: value}).save(tmp_path / "m.dhag")
    assert read_manifest(path)["settings"][setting] == value
    with pytest.MonkeyPatch.context() as patch:
        _earlier_release(known, patch)
        with pytest.raises(ArtifactError, match=rf"settings this version does not know \(.*'{setting}'"):
            load_model(path)
    assert getattr(load_model(path), setting) == value  # this release reads it


def test_a_left_out_setting_reads_as_before_it_existed_whatever_the_default_is_by_then(
    train_rows: np.ndarray, tmp_path: Path
) -> None:
    model = _model(train_rows, retry_ce_target=0.9)  # the plant model's: the retry as it was before
    path = model.save(tmp_path / "m.dhag")
    settings = read_manifest(path)["settings"]
    assert not {"retry_ce_target", "ce_weighting", "recipe", "n_members"} & set(settings)
    with pytest.MonkeyPatch.context() as patch:  # a later release's defaults
        later = {"retry_ce_target": None, "ce_weighting": "classes", "n_members": 3}
        patch.setattr(DHAG.__init__, "__kwdefaults__", {**DHAG.__init__.__kwdefaults__, **later})
        loaded = load_model(path)
    assert (loaded.retry_ce_target, loaded.ce_weighting, loaded.n_members) == (0.9, "rows", 1)


def test_a_setting_given_as_another_type_of_the_same_value_is_written(
    train_rows: np.ndarray, tmp_path
) -> None:
    # shift_weight=0 trains as 0.0 does, but only the exact value from before is left out.
    model = _model(train_rows, shift_weight=0)
    assert read_manifest(model.save(tmp_path / "m.dhag"))["settings"]["shift_weight"] == 0
