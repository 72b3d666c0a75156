"""A rule between the keys of a whole section (distinct topic names, a login's user name and password)
names where the keys it is about were set: the lines of the file that wrote them and the variables
that set them, not another key of the section that an environment variable happened to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

TOPICS = """\
kafka:
  topics:
    input: readings
    alerts: readings
"""


def _refusal(config: Path, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        load_settings(config, environ)
    (line,) = str(refused.value).splitlines()
    return line


def test_a_topic_clash_names_the_lines_of_both_topics_not_another_topics_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(TOPICS)
    # Before: "... are both 'readings': each topic needs its own name (set by
    # DHAG_PIPELINE_KAFKA__TOPICS__SCORES)", a variable that set neither topic.
    line = _refusal(config, {"DHAG_PIPELINE_KAFKA__TOPICS__SCORES": "scored"})
    assert line.endswith(f"each topic needs its own name (lines 3 and 4 of {str(config)!r})")
    # Before: "(line 2 of ...)": the line of `topics:`, not of either topic.
    line = _refusal(config, {})
    assert line.endswith(f"each topic needs its own name (lines 3 and 4 of {str(config)!r})")


def test_a_topic_clash_names_the_variable_and_the_line_that_set_its_topics(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  topics:\n    alerts: readings\n")
    # Before: "(set by DHAG_PIPELINE_KAFKA__TOPICS__INPUT)", without the line that wrote the alerts topic.
    line = _refusal(config, {"DHAG_PIPELINE_KAFKA__TOPICS__INPUT": "readings"})
    said = f"(set by DHAG_PIPELINE_KAFKA__TOPICS__INPUT; line 3 of {str(config)!r})"
    assert line.endswith(said)


def test_a_dead_letter_topic_named_from_the_input_names_the_input_topics_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  client_id: c\n  topics:\n    partitions: 1\n    input: {'i' * 247}\n")
    line = _refusal(config, {})
    assert "kafka.topics.dlq (null: kafka.topics.input + '.dlq') would be 251 characters" in line
    assert line.endswith(f"(line 5 of {str(config)!r})")  # before: line 3, `topics:`


def test_a_login_left_empty_names_where_its_keys_were_set(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  security:\n    ssl_check_hostname: true\n    security_protocol: SASL_PLAINTEXT\n"
        "    sasl_mechanism: PLAIN\n    sasl_plain_username: ''\n"
    )
    environ = {
        "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": "pw",
        "DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE": "ca.pem",
    }
    line = _refusal(config, environ)
    assert "kafka.security.sasl_plain_username is empty" in line
    # Before: "(set by DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD,
    # DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE)": the CA file has no part in a login.
    said = f"(set by DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD; lines 4, 5 and 6 of {str(config)!r})"
    assert line.endswith(said)
