"""A YAML merge key (``<<:``) in the settings stops start-up naming the key it is under, as an alias does:
no setting takes one, and PyYAML's own refusal called the file no YAML and named no key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("kafka:\n  <<: {batch_size: 5}\n", 2, "kafka.<<"),
        ("kafka:\n  <<: [{batch_size: 5}, {group_id: g}]\n", 2, "kafka.<<"),
        ("kafka:\n  topics:\n    input: a\n    <<: {alerts: b}\n", 4, "kafka.topics.<<"),
        ("<<: {shutdown_grace_s: 30.0}\n", 1, "<<"),
    ],
)
def test_a_merge_key_is_refused_naming_the_key_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, key: str
) -> None:
    # Before: "'config.yaml' is not valid YAML at line 2, column 3: could not determine a constructor for
    # the tag 'tag:yaml.org,2002:merge'" (with a list, a hint about quoting an IPv6 address too).
    config = tmp_path / "config.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    said = str(refused.value)
    assert f"line {line}, key {key}: " in said
    assert "merge key" in said and "write the keys out" in said
    assert "not valid YAML" not in said and "constructor" not in said and "IPv6" not in said
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    assert capsys.readouterr().err == said + "\n"


def test_a_merge_key_in_an_override_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"DHAG_PIPELINE_KAFKA": "{<<: {batch_size: 5}}"})
    said = str(refused.value)
    assert said.startswith("config error: environment variable DHAG_PIPELINE_KAFKA (key kafka.<<): ")
    assert "merge key" in said


def test_a_key_spelt_as_a_merge_key_but_quoted_is_an_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('kafka:\n  "<<": 5\n')
    with pytest.raises(ConfigError, match=r"unknown key 'kafka\.<<'"):
        load_settings(config)
