"""``records.asset_id_pattern`` holding a line break, as a value from a file ends with one (a ConfigMap
key made from a file, a YAML block ``|``), is refused naming the key: an asset id must match the
pattern whole, so such a pattern matches no id without that line break, and every record went to the
dead-letter topic as a bad asset id. The ``\\n`` escape, or a verbose pattern, is taken."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

VARIABLE = "DHAG_PIPELINE_RECORDS__ASSET_ID_PATTERN"


@pytest.mark.parametrize("pattern", ["^[a-z0-9-]+$\n", "[a-z]+\r\n", "\n[a-z]+"])
def test_a_pattern_with_a_line_break_from_a_variable_is_refused(pattern: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {VARIABLE: pattern})
    # Before: taken; every reading (asset 'pump-1' does not match '^[a-z0-9-]+$\n' whole) was dead-lettered.
    said = str(refused.value)
    assert said.startswith("config error: records.asset_id_pattern: ")
    assert "holds a line break" in said and said.endswith(f"(set by {VARIABLE})")


def test_a_pattern_with_a_line_break_from_a_block_of_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("records:\n  asset_id_pattern: |\n    ^[a-z0-9-]+$\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    assert str(refused.value).endswith(f"(line 2 of {str(config)!r})")


@pytest.mark.parametrize("pattern", [r"^[a-z]+\n?$", "(?x) ^[a-z]+  # the letters\n  $\n"])
def test_an_escaped_line_break_or_a_verbose_pattern_is_taken(pattern: str) -> None:
    assert load_settings(None, {VARIABLE: pattern}).records.asset_id_pattern == pattern
