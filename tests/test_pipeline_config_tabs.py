"""Tabs that YAML takes as white space between tokens (after a key's colon, after a value, before a
comment) are taken, as YAML says: PyYAML refused each as "found character '\\t' that cannot start any
token", and the service added "YAML indents with spaces, never tabs" to a file indented with spaces
(a tab left at the end of a line by an editor). A tab inside a value is kept; one in the indentation,
or between two words of an unquoted value, is refused, saying where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


def _settings(tmp_path: Path, text: str):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return load_settings(config, {})


@pytest.mark.parametrize(
    "text",
    [
        "kafka:\n  group_id:\tscorers\n",  # after the colon
        "kafka:\n  group_id: scorers\t\n",  # at the end of the line
        "kafka:\n  group_id: scorers \t # the daemons\n",  # before a comment
        "kafka:\t\n  group_id: scorers\n",  # after a section's key
        "kafka: {group_id:\tscorers}\n",  # in a flow mapping
    ],
)
def test_tabs_between_tokens_are_white_space(tmp_path: Path, text: str) -> None:
    settings = _settings(tmp_path, text)
    assert settings.kafka.group_id == "scorers"


def test_tabs_in_a_value_are_kept_and_lines_still_named(tmp_path: Path) -> None:
    # (A group or client id holding a tab is refused for it: a pattern and a path are not.)
    settings = _settings(tmp_path, "records:\n  asset_id_pattern: 'a\tb'\t\nmodel:\n  registry: \"c\\td\"\n")
    assert settings.records.asset_id_pattern == "a\tb" and settings.model.registry.endswith("/c\td")
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, "kafka:\n  group_id:\tscorers\n  batch_size:\t0\t\n")
    assert str(refused.value).endswith(f"(line 3 of {str(tmp_path / 'config.yaml')!r})")


@pytest.mark.parametrize(
    "text, said",
    [
        ("kafka:\n\tbatch_size: 5\n", "(YAML indents with spaces, never tabs)"),
        ("kafka:\n  group_id: a\tb\n", "(a tab between words of an unquoted value: quote the value)"),
    ],
)
def test_a_tab_in_the_indentation_or_between_words_is_refused(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path, text)
    assert "found character '\\t' that cannot start any token " + said in str(refused.value)
