"""A key written without a space after its colon (``port:9100``), or with a no-break space there or in
the indentation (text copied from a web page), is YAML text, not a key: the refusal says so. Before,
"key 'metrics' has value 'port:9100'; allowed: a section of keys", or "unknown key '\\xa0 batch_size';
remove it or fix its spelling", and nothing about the colon or the space."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

SPACE = "(YAML takes a key only with a space after its colon: write 'port: 9100')"
NBSP = (
    "(it holds a no-break space, U+00A0, as text copied from a web page does: YAML takes only plain spaces)"
)


def _said(tmp_path: Path, text: str) -> str:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    return str(refused.value)


def test_a_key_without_a_space_after_its_colon_is_told_so(tmp_path: Path) -> None:
    said = _said(tmp_path, "metrics:\n  port:9100\n")
    assert said.startswith(f"config error: key 'metrics' has value 'port:9100' {SPACE}; allowed: a section")


def test_a_section_without_a_space_after_its_colon_is_told_so(tmp_path: Path) -> None:
    said = _said(tmp_path, "kafka:{batch_size: 5}\n")
    assert said.startswith(
        "config error: unknown key 'kafka:{batch_size' (value '5}') (YAML takes a key only with a space "
        "after its colon: write 'kafka: {batch_size'); remove it or fix its spelling"
    )


@pytest.mark.parametrize(
    "text, begins",
    [
        ("kafka:\n  batch_size:\u00a05\n", "config error: key 'kafka' has value 'batch_size:\\xa05' "),
        ("kafka: {}\nmetrics:\n\u00a0 port: 9100\n", "config error: unknown key '\\xa0 port' (value 9100) "),
    ],
)
def test_a_no_break_space_is_named(tmp_path: Path, text: str, begins: str) -> None:
    said = _said(tmp_path, text)
    assert f"{begins}{NBSP}" in said
