"""``load`` called on a subclass of DHAG gives an instance of that subclass, with its own methods and
settings, scoring as the saved model does; before, ``MyDHAG.load(path)`` gave a plain DHAG, without the
subclass's methods, and a model such a subclass saved held its settings alone (not DHAG's), so that no
load took it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plant_data import gross_outliers, normal
from sklearn.base import clone

from dhag import DHAG, load_model, read_manifest


class ShiftDHAG(DHAG):
    """A plant's own DHAG, as scikit-learn builds estimators: a setting of its own beside two of DHAG's."""

    def __init__(self, shift_label: str = "day", max_epochs: int = 100, random_state: int = 0) -> None:
        super().__init__(max_epochs=max_epochs, random_state=random_state)
        self.shift_label = shift_label

    def flagged_share(self, X: np.ndarray) -> float:
        return float(self.predict(X).mean())


class PlainSubclass(DHAG):
    """A subclass that adds a method and takes DHAG's settings as they are."""

    def flagged_share(self, X: np.ndarray) -> float:
        return float(self.predict(X).mean())


@pytest.mark.parametrize("cls", [ShiftDHAG, PlainSubclass])
def test_load_on_a_subclass_gives_that_subclass_scoring_as_saved(
    cls: type[DHAG], fitted: DHAG, saved: Path, rng
) -> None:
    loaded = cls.load(saved)
    assert type(loaded) is cls
    rows = np.vstack([normal(rng, 100), gross_outliers(rng, 20)])
    np.testing.assert_array_equal(loaded.decision_function(rows), fitted.decision_function(rows))
    assert loaded.flagged_share(rows) == float(fitted.predict(rows).mean())
    assert loaded.threshold_ == fitted.threshold_ and loaded.metadata_ == {"version": 3}
    # The saved settings, those __init__ takes and the others: a retrain trains as the model was.
    assert (loaded.max_epochs, loaded.batch_size, loaded.random_state) == (15, 128, 0)
    assert set(clone(loaded).get_params()) == set(loaded.get_params())


def test_a_setting_of_the_subclass_is_as_its_init_sets_it(saved: Path) -> None:
    loaded = ShiftDHAG.load(saved)
    assert loaded.get_params() == {"shift_label": "day", "max_epochs": 15, "random_state": 0}


def test_a_model_a_subclass_saved_loads_as_the_class_load_is_called_on(saved: Path, tmp_path: Path) -> None:
    path = ShiftDHAG.load(saved).save(tmp_path / "shift.dhag")
    assert type(ShiftDHAG.load(path)) is ShiftDHAG
    # The file names no class (no code is chosen by a file): DHAG.load and load_model give a DHAG.
    assert type(DHAG.load(path)) is DHAG and type(load_model(path)) is DHAG
    # It holds DHAG's settings, those the subclass's get_params leaves out too, and none of the
    # subclass's own; before, it held the subclass's three alone, and loading refused 'shift_label' as
    # a setting of a newer version of dhag.
    settings = read_manifest(path)["settings"]
    assert "shift_label" not in settings and settings["batch_size"] == 128
    assert DHAG.load(path).batch_size == 128
