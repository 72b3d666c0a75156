"""``dhag``'s public names, imported on first use (PEP 562), are those of the modules that define them."""

from __future__ import annotations

import importlib

import pytest

import dhag


@pytest.mark.parametrize("name", dhag.__all__)
def test_each_public_name_is_its_modules_own(name: str) -> None:
    module = importlib.import_module(dhag._DEFINED_IN[name])
    assert getattr(dhag, name) is getattr(module, name)
    assert name in dir(dhag)


def test_a_star_import_gives_every_public_name_and_an_unknown_one_is_refused() -> None:
    names: dict = {}
    exec("from dhag import *", names)
    assert set(dhag.__all__) <= set(names)
    with pytest.raises(AttributeError, match="'dhag' has no attribute 'Estimator'"):
        dhag.Estimator  # noqa: B018
    with pytest.raises(ImportError):
        exec("from dhag import Estimator", {})
