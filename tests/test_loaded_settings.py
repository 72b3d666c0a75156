"""A loaded model's settings: what the model was built with, as ``clone`` and a refit take them, and
the ``device`` argument of loading named as that function's own."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone

import dhag.estimator
from dhag import DHAG, ParameterError, load_model


@pytest.mark.parametrize(("load", "named"), [(load_model, "load_model"), (DHAG.load, "DHAG.load")])
def test_a_bad_device_to_load_is_named_as_the_loading_functions_argument(saved: Path, load, named) -> None:
    with pytest.raises(ParameterError) as refused:
        load(saved, device="tpu")
    message = str(refused.value)
    assert message.startswith(f"The 'device' argument of {named} must be 'auto', 'cpu' or 'cuda[:N]'")
    assert "Got 'tpu' instead." in message and "parameter of DHAG" not in message
    assert refused.value.setting == "device"


def test_a_loaded_models_settings_are_those_it_was_built_with(tmp_path: Path, rng) -> None:
    frame = pd.DataFrame(
        {"flow": rng.normal(size=300), "on": rng.integers(0, 2, 300), "site": rng.choice(["n", "s"], 300)}
    )
    built = DHAG(max_epochs=1, batch_size=64, random_state=0, categorical=["site"], passthrough=["on"])
    loaded = load_model(built.fit(frame).save(tmp_path / "m.dhag"), device="cpu")

    assert loaded.get_params() == built.get_params()
    assert loaded.device == "auto" and str(loaded.device_) == "cpu"  # where it scores: device_
    assert repr(loaded) == repr(built)
    assert load_model(
        DHAG(max_epochs=1, batch_size=64).fit(frame[["flow"]]).save(tmp_path / "d.dhag")
    ).get_params() == (DHAG(max_epochs=1, batch_size=64).get_params())


def test_a_clone_of_a_loaded_model_trains_where_the_model_was_built_to(
    tmp_path: Path, rng, monkeypatch
) -> None:
    path = (
        DHAG(max_epochs=1, batch_size=64, random_state=0)
        .fit(rng.normal(size=(300, 3)))
        .save(tmp_path / "m.dhag")
    )
    copy = clone(load_model(path, device="cpu"))
    assert copy.get_params()["device"] == "auto"
    resolved = []
    real = dhag.estimator.resolve_device
    monkeypatch.setattr(dhag.estimator, "resolve_device", lambda d: resolved.append(d) or real(d))
    copy.fit(rng.normal(size=(300, 3)))
    assert resolved == ["auto"]
