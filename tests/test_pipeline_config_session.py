"""A consumer session timeout a default Kafka broker refuses at the group join is warned of, naming the
key and the broker's setting and default, by check-config and by run as it starts. Before,
it passed silently and the join failed with INVALID_SESSION_TIMEOUT, which looked like a broker fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import Settings, load_settings
from pipeline.settingnotes import session_note, setting_notes


def _kafka(**kafka: int) -> Settings:
    return Settings.model_validate({"kafka": kafka})


def test_a_session_timeout_below_the_brokers_default_minimum_is_warned_of() -> None:
    settings = _kafka(session_timeout_ms=5999, heartbeat_interval_ms=1000)
    note = session_note(settings)
    assert note is not None
    assert note.startswith("kafka.session_timeout_ms 5999 is below 6000")
    assert "group.min.session.timeout.ms" in note
    assert note in setting_notes(settings)
    assert session_note(_kafka(session_timeout_ms=6000, heartbeat_interval_ms=1000)) is None
    assert session_note(Settings()) is None


def test_check_config_warns_and_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  session_timeout_ms: 3000\n  heartbeat_interval_ms: 1000\n")
    assert cli.main(["check-config", "--config", str(config)]) == 0
    assert "warning: kafka.session_timeout_ms 3000 is below 6000" in capsys.readouterr().err


def test_run_logs_it_as_it_starts_and_retrain_which_joins_no_group_does_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = {
        "DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS": "1000",
        "DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS": "300",
    }
    settings = load_settings(None, environ)
    with caplog.at_level("WARNING"):
        cli.log_start_notes(settings, retrainer=True)
    assert not caplog.records
    with caplog.at_level("WARNING"):
        cli.log_start_notes(settings)
    assert any("kafka.session_timeout_ms 1000 is below 6000" in r.getMessage() for r in caplog.records)


def test_a_session_timeout_above_the_brokers_default_maximum_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The settings take up to 2^31-1 ms; a broker refuses more than group.max.session.timeout.ms.
    settings = _kafka(session_timeout_ms=1_800_001)
    note = session_note(settings)
    assert note is not None
    assert note.startswith("kafka.session_timeout_ms 1800001 is above 1800000")
    assert "group.max.session.timeout.ms" in note
    assert session_note(_kafka(session_timeout_ms=1_800_000)) is None
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  session_timeout_ms: 3600000\n")
    assert cli.main(["check-config", "--config", str(config)]) == 0
    assert "warning: kafka.session_timeout_ms 3600000 is above 1800000" in capsys.readouterr().err
