"""A long value refused at start-up is shown shortened, with its length, in the line that names its key
(the key whole): before, a value pasted by mistake (a certificate, a whole file) was echoed in full, a
line of thousands of characters, once for every problem it had."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

LONG = "x" * 5000

VARIABLES = {
    "kafka.topics.input": ("DHAG_PIPELINE_KAFKA__TOPICS__INPUT", LONG + "!"),
    "kafka.bootstrap_servers": ("DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS", ",".join([LONG] * 3)),
    "kafka.batch_size": ("DHAG_PIPELINE_KAFKA__BATCH_SIZE", LONG),
    "model.device": ("DHAG_PIPELINE_MODEL__DEVICE", LONG),
    "metrics.host": ("DHAG_PIPELINE_METRICS__HOST", LONG + "/"),
    "kafka.group_id": ("DHAG_PIPELINE_KAFKA__GROUP_ID", " " + LONG),
    "records.asset_id_pattern": ("DHAG_PIPELINE_RECORDS__ASSET_ID_PATTERN", "(" + LONG),
    "logging.level": ("DHAG_PIPELINE_LOGGING__LEVEL", LONG),
}


@pytest.mark.parametrize("key", sorted(VARIABLES))
def test_a_long_value_is_shortened_where_its_key_is_named(key: str) -> None:
    variable, value = VARIABLES[key]
    with pytest.raises(ConfigError) as info:
        load_settings(None, {variable: value})
    said = str(info.value)
    assert key in said and variable in said
    assert len(said) < 600, said[:300]
    assert f"{len(value)} characters" in said


def test_an_unknown_key_is_named_whole_its_value_shortened() -> None:
    key = "k" * 300
    with pytest.raises(ConfigError) as info:
        load_settings(None, {f"DHAG_PIPELINE_ALERTS__{key.upper()}": LONG})
    said = str(info.value)
    assert f"'alerts.{key}'" in said
    assert len(said) < 900 and "5000 characters" in said


def test_a_short_value_is_still_shown_whole() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_MODEL__DEVICE": "tpu"})
    assert "'tpu' is no device" in str(info.value) and "characters" not in str(info.value)


def test_a_long_value_named_by_a_rule_between_keys_is_shortened() -> None:
    group = {"DHAG_PIPELINE_KAFKA__GROUP_ID": LONG, "DHAG_PIPELINE_RETRAIN__GROUP_ID": LONG}
    with pytest.raises(ConfigError) as info:
        load_settings(None, group)
    said = str(info.value)
    assert "retrain.group_id and kafka.group_id must differ" in said
    assert len(said) < 600 and "5000 characters" in said
