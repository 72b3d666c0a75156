"""A name (a group or client id, the registry's path, the metrics host) that ends with a line break or
a tab, as a value read from a file does, is refused saying so: before, it was said to "start or end
with a space", and the value shown ended with no space."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    "variable, value, said",
    [
        ("KAFKA__GROUP_ID", "scorers\n", "'scorers\\n' ends with a line break (a value read from a file"),
        ("MODEL__REGISTRY", "\t/models", "'\\t/models' starts with a tab"),
        ("METRICS__HOST", " 0.0.0.0", "' 0.0.0.0' starts with a space"),
        ("KAFKA__CLIENT_ID", "  ", "'  ' must not be blank"),
    ],
)
def test_a_name_padded_with_white_space_says_with_what(variable: str, value: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {f"DHAG_PIPELINE_{variable}": value})
    assert said in str(refused.value)
