"""An unknown key named with the setting it most likely meant, where the key is part of a setting's name
(a word left off): before, only "remove it or fix its spelling"."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "kafka:\n  bootstrap: k:9092\n",
            "unknown key 'kafka.bootstrap' (value 'k:9092'); did you mean kafka.bootstrap_servers?",
        ),
        ("kafka:\n  servers: k:9092\n", "did you mean kafka.bootstrap_servers?"),
        ("kafka:\n  batch: 5\n", "did you mean kafka.batch_size?"),
        ("kafka:\n  topics:\n    input_topic: x\n", "did you mean kafka.topics.input?"),
        ("kafka:\n  security:\n    protocol: SSL\n", "did you mean kafka.security.security_protocol?"),
        # Several settings hold the word: each is named.
        (
            "retrain:\n  min: 5\n",
            "did you mean one of retrain.min_new_labels, retrain.min_interval_s or retrain.min_normal_rows?",
        ),
    ],
)
def test_an_unknown_key_that_is_part_of_a_setting_name_names_that_setting(
    tmp_path: Path, text: str, said: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    assert said in str(raised.value), str(raised.value)


def test_a_variable_that_is_part_of_a_setting_name_names_the_variable_meant() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP": "k:9092"})
    said = "did you mean DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS (kafka.bootstrap_servers)?"
    assert said in str(raised.value), str(raised.value)


def test_a_word_in_no_setting_still_says_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="unknown key 'alerts.threshold' .*; remove it or fix its spelling"):
        load_settings(None, {"DHAG_PIPELINE_ALERTS__THRESHOLD": "0.5"})


@pytest.mark.parametrize("name", ["dhag_pipeline_kafka__batch_size", "Dhag_Pipeline_KAFKA__BATCH_SIZE"])
def test_a_variable_with_the_prefix_in_other_letters_is_refused_naming_it(name: str) -> None:
    # Before: ignored without a word (the prefix is matched as written, the keys after it in any case):
    # the service ran with a batch size of 5000 while the operator had set 500.
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {name: "500"})
    said = str(raised.value)
    assert said.startswith(f"config error: environment variable {name} is not read: ")
    assert "DHAG_PIPELINE_KAFKA__BATCH_SIZE" in said and "\n" not in said
    # Written as documented, it is taken.
    assert load_settings(None, {"DHAG_PIPELINE_kafka__batch_size": "500"}).kafka.batch_size == 500
