"""Numbers spelt in ways YAML 1.1 reads as text are refused saying how to write them: ``0o17`` (YAML
1.2's octal), ``1,000`` or ``5 000`` (thousands separated), and a number in a block (``|``) whose line
break makes it text. Before, each was "has value '...'; allowed: a valid integer" and nothing more, or,
for the block, "quoted, a number is text", though nothing was quoted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


def _said(tmp_path: Path, text: str) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    return str(refused.value)


@pytest.mark.parametrize(
    "written, hint",
    [
        ("0o17", "(0o17 is YAML 1.2's octal, which YAML 1.1 reads as text: write 15)"),
        ("1,000", "(write it without the thousands separators: 1000)"),
        ("'5 000'", "(write it without the thousands separators: 5000)"),
    ],
)
def test_a_number_spelt_as_text_is_told_how_to_write_it(tmp_path: Path, written: str, hint: str) -> None:
    said = _said(tmp_path, f"kafka:\n  batch_size: {written}\n")
    assert f" {hint}; allowed: a valid integer (line 2 of " in said


def test_a_number_in_a_block_is_not_said_to_be_quoted(tmp_path: Path) -> None:
    said = _said(tmp_path, "kafka:\n  batch_size: |\n    500\n")
    assert "(a block (| or >) or quotes make a number text: write it unquoted on the key's line)" in said
    assert "(quoted," not in said
