"""Settings each valid alone that together can never work, known from the config: refused at start-up
naming every key involved, rather than found by the service run after run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError


def test_more_normal_rows_than_the_samples_hold_is_refused_naming_the_settings() -> None:
    # Before: accepted, and every retrain run then ended with "N normal training rows, fewer than
    # retrain.min_normal_rows (1000000)", as the samples it trains on never hold more than 140000.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_RETRAIN__MIN_NORMAL_ROWS": "1000000"})
    said = str(info.value)
    assert said.startswith("config error: retrain.min_normal_rows (1000000) is more than ")
    assert "is more than the 140000 normal readings a retrain run can ever train on" in said
    assert "retrain.normal_sample_size (20000; " in said and "retrain.reference_sample_size (100000)" in said
    assert "(set by DHAG_PIPELINE_RETRAIN__MIN_NORMAL_ROWS)" in said


def test_normal_rows_the_samples_can_hold_are_taken() -> None:
    settings = load_settings(
        None,
        {
            "DHAG_PIPELINE_RETRAIN__MIN_NORMAL_ROWS": "500",
            "DHAG_PIPELINE_RETRAIN__NORMAL_SAMPLE_SIZE": "200",
            "DHAG_PIPELINE_RETRAIN__REFERENCE_SAMPLE_SIZE": "100",
        },
    )
    assert settings.retrain.min_normal_rows == 500  # 2 x 200 + 100


def test_check_config_refuses_a_sample_too_small_for_the_minimum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("retrain:\n  normal_sample_size: 100\n  reference_sample_size: 200\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    assert "retrain.min_normal_rows (500) is more than" in capsys.readouterr().err


def test_a_dlq_ratio_cap_that_can_never_trip_is_refused_saying_why() -> None:
    # Before: dlq.max_ratio 1.0 was taken, and the cap pauses when *more than* that share of the window
    # went to the DLQ: never, not even when a bad deploy sent every record there.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_DLQ__MAX_RATIO": "1.0"})
    said = str(info.value)
    assert said.startswith("config error: dlq.max_ratio: 1.0: ")
    assert "the cap would never trip" in said and "(set by DHAG_PIPELINE_DLQ__MAX_RATIO)" in said
    assert load_settings(None, {"DHAG_PIPELINE_DLQ__MAX_RATIO": "0.99"}).dlq.max_ratio == 0.99


@pytest.mark.parametrize("written", ["0.0005", "1.0e-9"])
def test_a_retry_backoff_below_a_millisecond_is_refused(written: str) -> None:
    # Before: taken, and handed to kafka-python as reconnect_backoff_ms 0 (whole milliseconds): every
    # client reconnected to a broker that was down without any pause, for as long as it was down.
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BACKOFF_INITIAL_S": written})
    said = str(info.value)
    assert said.startswith("config error: key 'kafka.backoff_initial_s' has value ")
    assert "allowed: greater than or equal to 0.001" in said
    assert (
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BACKOFF_INITIAL_S": "0.001"}).kafka.backoff_initial_s
        == 0.001
    )
