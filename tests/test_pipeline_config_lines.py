"""A refused setting written in the config file is named with its line and the file, as one set by an
environment variable is named with the variable: a ConfigMap of a hundred lines, or a file merged from
several, says where to look."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError

CONFIG = """\
kafka:
  bootstrap_servers: kafka-1:9092
  batch_size: 0
  topics:
    input: sensor readings
metrics:
  port: 9108
  asset_limt: 10
retrain:
  device: tpu
"""


def test_each_refused_setting_of_the_file_names_its_line(tmp_path: Path) -> None:
    # Before: "config error: key 'kafka.batch_size' has value 0; allowed: ...", no file, no line.
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    said = str(refused.value).splitlines()
    where = f" of {str(config)!r})"
    assert len(said) == 4
    for begins, line in [
        ("config error: key 'kafka.batch_size' has value 0; ", 3),
        ("config error: kafka.topics.input: 'sensor readings' is not a Kafka topic", 5),
        ("config error: unknown key 'metrics.asset_limt' (value 10); did you mean", 8),
        ("config error: retrain.device: 'tpu' is no device", 10),
    ]:
        (found,) = [one for one in said if one.startswith(begins)]
        assert found.endswith(f"(line {line}{where}")


def test_a_setting_an_override_replaced_names_the_variable_not_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  batch_size: 10\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": "0"})
    assert str(refused.value).endswith("(set by DHAG_PIPELINE_KAFKA__BATCH_SIZE)")
    assert "line 2" not in str(refused.value)


def test_a_section_given_a_value_and_an_item_of_a_list_name_their_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "logging:\n  level: INFO\nalerts: 5\nkafka:\n  bootstrap_servers:\n    - a:1\n    - b\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    said = sorted(str(refused.value).splitlines())
    assert said[0].startswith("config error: kafka.bootstrap_servers: a YAML list")
    assert said[0].endswith(f"(line 5 of {str(config)!r})")
    assert said[1].startswith("config error: key 'alerts' has value 5; ")
    assert said[1].endswith(f"(line 3 of {str(config)!r})")


def test_check_config_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("# the plant's settings\n\nshutdown_grace_s: -1\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    assert capsys.readouterr().err.rstrip().endswith(f"(line 3 of {str(config)!r})")


def test_a_rule_between_keys_names_the_lines_of_those_the_file_wrote(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  heartbeat_interval_ms: 20000\n  session_timeout_ms: 10000\nmetrics:\n  port: 9110\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {"DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS": "15000"})
    said = sorted(str(refused.value).splitlines())
    assert said[0].startswith("config error: kafka.heartbeat_interval_ms (20000) must be below")
    assert said[0].endswith(f"(set by DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS; line 2 of {str(config)!r})")
    assert said[1].startswith("config error: metrics.port and retrain.metrics_port are both 9110")
    assert said[1].endswith(f"(line 5 of {str(config)!r})")


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b"kafka:\n  group_id: caf\xe9-7\n",
            "is not UTF-8 text: line 2, column 16 holds byte 0xe9 (Latin-1 or Windows-1252 text?): "
            "save it as UTF-8",
        ),
        (
            "kafka:\n  group_id: g\n".encode("utf-16"),
            "is not UTF-8 text but UTF-16 (it starts with UTF-16's byte-order mark): save it as UTF-8",
        ),
    ],
)
def test_a_config_file_not_in_utf8_names_the_line_and_what_it_is(
    tmp_path: Path, data: bytes, said: str
) -> None:
    # Before: "'config.yaml' is not UTF-8 text (byte 20)", and of a file saved as UTF-16 "(byte 0)".
    config = tmp_path / "config.yaml"
    config.write_bytes(data)
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    assert str(refused.value) == f"config error: {str(config)!r} {said}"
