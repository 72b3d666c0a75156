"""A client id or a consumer group id longer than Kafka's requests can carry (text of at most 32767
bytes, UTF-8) stops start-up naming the key, exit 2: kafka-python cannot write a request with it, and
every one failed as if the broker were out of reach. One holding a control, line-breaking or invisible
character is refused naming it and its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("variable", "key", "most"),
    [
        ("DHAG_PIPELINE_KAFKA__CLIENT_ID", "kafka.client_id", 32757),  # the retrainer's adds -retrainer
        ("DHAG_PIPELINE_KAFKA__GROUP_ID", "kafka.group_id", 32767),
        ("DHAG_PIPELINE_RETRAIN__GROUP_ID", "retrain.group_id", 32767),
    ],
)
def test_an_id_longer_than_a_kafka_request_carries_is_refused_naming_the_key(
    variable: str, key: str, most: int
) -> None:
    # Before: accepted, also by check-config; `run` then failed every request to the broker ("struct.error:
    # 'h' format requires -32768 <= number <= 32767" inside kafka-python) and exited 3 after
    # kafka.unavailable_exit_s, "Kafka ... unusable to consume", as if the cluster were down.
    assert getattr(load_settings(None, {variable: "é" * (most // 2)}), key.split(".")[0])
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {variable: "é" * (most // 2 + 1)})  # two bytes each in UTF-8
    said = str(refused.value)
    assert said.startswith(f"config error: {key}: {most + 1} bytes long (UTF-8); ")
    assert f"at most {most}" in said and said.endswith(f"(set by {variable})")
    assert "é" not in said  # never the whole of it


def test_check_config_refuses_a_client_id_too_long_for_a_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  client_id: {'c' * 40_000}\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("config error: kafka.client_id: 40000 bytes long")
    assert len(captured.err) < 500


@pytest.mark.parametrize(
    ("key", "written", "held"),
    [
        # Before: taken; a zero-width space made a consumer group that reads as the daemon's in Kafka's
        # tools but has no offsets (the input topic read again from kafka.auto_offset_reset).
        ("group_id", '"dhag-pipeline\\u200b"', "'\\u200b' (an invisible character) at character 14"),
        ("group_id", '"scor\\0ers"', "'\\x00' (a control character) at character 5"),
        ("client_id", '"dhag\\tpipeline"', "'\\t' (a control character) at character 5"),
        ("client_id", '"dhag\\epipeline"', "'\\x1b' (a control character) at character 5"),
    ],
)
def test_an_id_holding_a_control_or_invisible_character_is_refused_naming_it(
    tmp_path: Path, key: str, written: str, held: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"kafka:\n  {key}: {written}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, {})
    said = str(refused.value)
    assert said.startswith(f"config error: kafka.{key}: ") and f" holds {held}, " in said
    assert said.endswith(f"write it without (line 2 of {str(config)!r})")
    with pytest.raises(ConfigError, match=r"retrain\.group_id: .* holds '\\x07' \(a control character\)"):
        load_settings(None, {"DHAG_PIPELINE_RETRAIN__GROUP_ID": "dhag\x07retrainer"})
    # Spaces inside and letters of any script stay names.
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__GROUP_ID": "Ünïcode 組"})
    assert settings.kafka.group_id == "Ünïcode 組"
