"""Topic names in the clash errors (two keys naming one topic, or names alike but for '.' and '_') are
cut as every other value in an error is (pipeline.configvalues.shown); before, a name of up to 249
characters was shown whole, once for each key."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.configvalues import shown
from pipeline.errors import ConfigError

_LONG = "plant." + "r" * 200


def _refused(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, env)
    return str(info.value)


def test_one_long_name_for_two_topics_is_shown_cut() -> None:
    said = _refused(
        {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": _LONG, "DHAG_PIPELINE_KAFKA__TOPICS__ALERTS": _LONG}
    )
    assert f"kafka.topics.input and kafka.topics.alerts are both {shown(_LONG)}" in said
    assert "(206 characters)" in said and _LONG not in said


def test_long_names_alike_but_for_dot_and_underscore_are_shown_cut() -> None:
    other = _LONG.replace(".", "_")
    said = _refused(
        {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": _LONG, "DHAG_PIPELINE_KAFKA__TOPICS__ALERTS": other}
    )
    assert f"kafka.topics.input ({shown(_LONG)}) and kafka.topics.alerts ({shown(other)}) differ only" in said
    assert _LONG not in said and other not in said
