"""A switch (``metrics.enabled``, ``drift.enabled``, ...) given something else is told what it takes,
true or false: before, "allowed: a valid boolean", which does not say that ``1``, ``"true"`` or ``y``
(switches elsewhere) are not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize("raw, shown", [("1", "1"), ("0", "0"), ("y", "'y'"), ('"true"', "'true'")])
def test_a_switch_set_otherwise_by_a_variable_is_told_true_or_false(raw: str, shown: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"DHAG_PIPELINE_METRICS__ENABLED": raw})
    assert str(refused.value).startswith(
        f"config error: key 'metrics.enabled' has value {shown}; allowed: true or false"
    )


def test_a_switch_set_otherwise_in_the_file_is_told_true_or_false(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("drift:\n  enabled: enabled\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    assert str(refused.value) == (
        "config error: key 'drift.enabled' has value 'enabled'; allowed: true or false "
        f"(line 2 of {str(config)!r})"
    )
