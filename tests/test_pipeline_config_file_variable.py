"""A variable meant to name the config file (``DHAG_PIPELINE_CONFIG``, ``..._CONFIG_FILE``) is refused
saying that ``--config`` names it: before, "unknown key 'config'; remove it or fix its spelling", as if
a setting were misspelt."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    "name", ["DHAG_PIPELINE_CONFIG", "DHAG_PIPELINE_CONFIG_FILE", "DHAG_PIPELINE_CONFIG_PATH"]
)
def test_a_variable_naming_the_config_file_is_told_of_config(name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {name: "/etc/dhag/config.yaml"})
    key = name.removeprefix("DHAG_PIPELINE_").lower()
    assert str(refused.value) == (
        f"config error: unknown key {key!r} (value '/etc/dhag/config.yaml'); no setting names the config "
        f"file: give it as --config FILE (set by {name})"
    )
