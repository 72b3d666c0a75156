"""Two environment variables that set one key, or one a key under the other's single value, stop
start-up naming both variables and the key; before, the error named only one ("conflicts with another
one", to be found among the pod's variables), and a variable holding a section's keys as YAML was
overridden in silence by one setting a key of it."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

BATCH = "DHAG_PIPELINE_KAFKA__BATCH_SIZE"


def _refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, environ)
    return str(refused.value)


@pytest.mark.parametrize(
    "environ, said",
    [
        (
            {BATCH: "5", f"{BATCH}__EXTRA": "1"},
            f"config error: environment variables {BATCH} and {BATCH}__EXTRA both set kafka.batch_size: "
            f"{BATCH} sets it to one value, {BATCH}__EXTRA keys under it: unset or rename one",
        ),
        (
            {"DHAG_PIPELINE_KAFKA": "x", "DHAG_PIPELINE_KAFKA__GROUP_ID": "g"},
            "config error: environment variables DHAG_PIPELINE_KAFKA and DHAG_PIPELINE_KAFKA__GROUP_ID both "
            "set kafka: DHAG_PIPELINE_KAFKA sets it to one value, DHAG_PIPELINE_KAFKA__GROUP_ID keys under "
            "it: unset or rename one",
        ),
    ],
)
def test_a_variable_setting_keys_under_anothers_value_names_both(environ: dict[str, str], said: str) -> None:
    # Before: "config error: environment variable ...__EXTRA conflicts with another one".
    assert _refusal(environ) == said


def test_a_section_given_as_yaml_and_a_variable_setting_one_of_its_keys_is_refused() -> None:
    environ = {"DHAG_PIPELINE_KAFKA": "{batch_size: 5, group_id: g}", BATCH: "6"}
    # Before: batch_size 6, the 5 of DHAG_PIPELINE_KAFKA dropped without a word.
    assert _refusal(environ) == (
        f"config error: environment variables DHAG_PIPELINE_KAFKA and {BATCH} both set kafka.batch_size: "
        "unset one"
    )


def test_a_section_given_as_yaml_and_a_variable_setting_another_key_are_both_taken() -> None:
    settings = load_settings(
        None, {"DHAG_PIPELINE_KAFKA": "{batch_size: 5}", "DHAG_PIPELINE_KAFKA__GROUP_ID": "g"}
    )
    assert (settings.kafka.batch_size, settings.kafka.group_id) == (5, "g")


def test_a_variable_setting_keys_under_a_value_of_a_section_given_as_yaml_names_both() -> None:
    environ = {"DHAG_PIPELINE_KAFKA": "{batch_size: 5}", f"{BATCH}__EXTRA": "1"}
    # Before: "... environment variable DHAG_PIPELINE_KAFKA__BATCH_SIZE__EXTRA conflicts with another one".
    assert _refusal(environ).startswith(
        f"config error: environment variables DHAG_PIPELINE_KAFKA and {BATCH}__EXTRA both set "
        "kafka.batch_size: "
    )


def test_variables_in_other_letters_setting_a_section_and_a_key_of_it_name_both() -> None:
    # Sorted, DHAG_PIPELINE_KAFKA__TOPICS__INPUT comes before DHAG_PIPELINE_KAFKA__topics, whose section
    # replaced the topics it set, in silence, before.
    environ = {"DHAG_PIPELINE_KAFKA__topics": "{input: b}", "DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "a"}
    assert _refusal(environ) == (
        "config error: environment variables DHAG_PIPELINE_KAFKA__TOPICS__INPUT and "
        "DHAG_PIPELINE_KAFKA__topics both set kafka.topics: unset one"
    )
