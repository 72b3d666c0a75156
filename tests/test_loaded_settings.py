"""A loaded model's settings: what the model was built with, as ``clone`` and a refit take them, and
the ``device`` argument of loading named as that function's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhag import DHAG, ParameterError, load_model


@pytest.mark.parametrize(("load", "named"), [(load_model, "load_model"), (DHAG.load, "DHAG.load")])
def test_a_bad_device_to_load_is_named_as_the_loading_functions_argument(saved: Path, load, named) -> None:
    with pytest.raises(ParameterError) as refused:
        load(saved, device="tpu")
    message = str(refused.value)
    assert message.startswith(f"The 'device' argument of {named} must be 'auto', 'cpu' or 'cuda[:N]'")
    assert "Got 'tpu' instead." in message and "parameter of DHAG" not in message
    assert refused.value.setting == "device"
