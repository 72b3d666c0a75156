"""Numbers spelt in ways YAML 1.1 reads as text are refused saying how to write them: ``0o17`` (YAML
1.2's octal), ``1,000`` or ``5 000`` (thousands separated), and a number in a block (``|``) whose line
break makes it text. Before, each was "has value '...'; allowed: a valid integer" and nothing more, or,
for the block, "quoted, a number is text", though nothing was quoted. A number in base 16 or 2
(``0x1F90``), which YAML 1.1 reads as 8080, is refused saying it in decimal: before, taken silently."""

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


@pytest.mark.parametrize(
    ("key", "written", "write"),
    [
        # YAML 1.1 reads 0x1F90 as 8080: before, the daemon listened on 8080, silently.
        (("metrics", "port"), "0x1F90", "write 8080 for the number"),
        (("kafka", "batch_size"), "0b101", "write 5 for the number"),  # before: a batch of 5
        (("kafka", "batch_size"), "0x_1f", "write 31 for the number"),
        (("kafka", "group_id"), "0x10", "write 16 for the number"),  # before: refused showing 16
    ],
)
def test_a_number_in_base_16_or_2_is_refused_saying_it_in_decimal(
    tmp_path: Path, key: tuple[str, ...], written: str, write: str
) -> None:
    said = _said(tmp_path, f"{key[0]}:\n  {key[1]}: {written}\n")
    assert f"line 2, key {'.'.join(key)}: {written} is a " in said
    assert f"{write}, or quote it for the text" in said
    if key != ("kafka", "group_id"):  # text from a variable is taken as written
        variable = "DHAG_PIPELINE_" + "__".join(key).upper()
        with pytest.raises(ConfigError, match=f"{variable} .*{written} is a .*{write}"):
            load_settings(None, {variable: written})
    assert load_settings(None, {"DHAG_PIPELINE_KAFKA__GROUP_ID": "0x10"}).kafka.group_id == "0x10"


def test_a_password_in_base_16_is_refused_without_showing_it(tmp_path: Path) -> None:
    said = _said(tmp_path, "kafka:\n  security:\n    ssl_password: 0xDEAD\n")
    assert "key kafka.security.ssl_password: (hidden) is a hexadecimal number" in said
    assert "DEAD" not in said and str(0xDEAD) not in said


def test_base_16_in_capitals_yaml_reads_as_text_is_told_the_number() -> None:
    # 0X1F90 is text to YAML: before, "allowed: a valid integer" and nothing more.
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"DHAG_PIPELINE_METRICS__PORT": "0X1F90"})
    assert "has value '0X1F90' (no setting is written in base 16 or 2: write 8080)" in str(refused.value)
