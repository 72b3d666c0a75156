"""Settings that were accepted silently and went wrong later: YAML whose aliases expand without bound."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


# -- YAML aliases -----------------------------------------------------------------------------------------
def _bomb(levels: int, indent: str = "") -> str:
    """Nested aliases: ``levels`` anchors, each a list of nine of the one before: 9**levels strings."""
    lines = [f'{indent}a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{indent}a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["top", "section"])
def test_a_billion_laughs_config_is_refused_quickly_naming_the_file(tmp_path: Path, where: str) -> None:
    # Before: each alias expanded when the error message quoted the value: 9**8 strings already took
    # seconds and hundreds of MB, and 9**12 here would have exhausted the machine's memory.
    config = tmp_path / "config.yaml"
    config.write_text(_bomb(12) if where == "top" else "kafka:\n" + _bomb(12, "  "))
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert time.perf_counter() - started < 1.0
    message = str(info.value)
    line = 2 if where == "top" else 3
    assert str(config) in message and "alias *a0" in message and f"line {line}" in message
    assert len(message) < 500


def test_a_billion_laughs_environment_value_is_refused_naming_the_variable() -> None:
    bomb = "[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
        f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)
    )
    bomb += "]"
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": bomb})
    assert time.perf_counter() - started < 1.0
    assert "DHAG_PIPELINE_KAFKA__BATCH_SIZE" in str(info.value) and "alias" in str(info.value)
    assert len(str(info.value)) < 500


def test_any_alias_is_refused_and_an_anchor_alone_is_harmless(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  client_id: &name plant-7\n  group_id: *name\n")
    with pytest.raises(ConfigError, match="alias \\*name"):
        load_settings(config)
    config.write_text("metrics: &m {port: 0}\n")
    assert load_settings(config).metrics.port == 0


def test_a_config_nested_past_any_setting_is_refused_not_a_crash(tmp_path: Path) -> None:
    # Before: a RecursionError traceback (exit 1) instead of a config error (exit 2).
    config = tmp_path / "config.yaml"
    config.write_text("kafka: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nest"):
        load_settings(config)
    with pytest.raises(ConfigError, match="DHAG_PIPELINE_KAFKA__BATCH_SIZE"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "[" * 5000 + "]" * 5000})
