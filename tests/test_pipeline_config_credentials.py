"""A SASL user name or password with a line break in it (a Kubernetes Secret written with ``echo``) is
refused at start-up naming its key, never its value; one with leading or trailing spaces is taken with a
warning naming the key. Before, both were sent as written and the broker refused the login, reported as
a broker the service could not reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError
from pipeline.settingnotes import credentials_note, setting_notes

SASL = "DHAG_PIPELINE_KAFKA__SECURITY__"
LOGIN = {f"{SASL}SECURITY_PROTOCOL": "SASL_SSL", f"{SASL}SASL_MECHANISM": "SCRAM-SHA-512"}


@pytest.mark.parametrize("key", ["SASL_PLAIN_PASSWORD", "SASL_PLAIN_USERNAME"])
@pytest.mark.parametrize("value", ["s3cr3t-value\n", "s3cr3t-value\r\n", "\ns3cr3t-value", "s3cr3t\nvalue"])
def test_a_line_break_in_a_credential_is_refused_naming_the_key_not_the_value(key: str, value: str) -> None:
    other = "SASL_PLAIN_USERNAME" if key == "SASL_PLAIN_PASSWORD" else "SASL_PLAIN_PASSWORD"
    environ = LOGIN | {f"{SASL}{key}": value, f"{SASL}{other}": "fine"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    said = str(info.value)
    assert f"config error: kafka.security.{key.lower()} holds a line break" in said
    assert f"{SASL}{key}" in said
    assert "s3cr3t" not in said


def test_a_line_break_in_a_credential_the_protocol_does_not_send_is_left_to_the_security_note() -> None:
    environ = {f"{SASL}SASL_PLAIN_PASSWORD": "pw\n"}
    assert load_settings(None, environ).kafka.security.sasl_plain_password is not None


def test_check_config_refuses_a_password_from_a_file_that_ends_with_a_line_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  security:\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: PLAIN\n"
        '    sasl_plain_username: scorer\n    sasl_plain_password: "hunter2\\n"\n'
    )
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "kafka.security.sasl_plain_password holds a line break" in err
    assert "hunter2" not in err


def _login(username: str, password: str) -> Settings:
    security = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }
    return Settings.model_validate({"kafka": {"security": security}})


def test_spaces_around_a_credential_are_taken_with_a_warning_naming_the_key() -> None:
    settings = _login(" scorer", "hunter2 ")
    note = credentials_note(settings)
    assert note is not None
    assert "kafka.security.sasl_plain_username starts with white space" in note
    assert "kafka.security.sasl_plain_password ends with white space" in note
    assert "hunter2" not in note and "scorer" not in note
    assert note in setting_notes(settings)
    assert credentials_note(_login("scorer", "hunter 2")) is None


def test_run_logs_the_spaces_warning_as_it_starts(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    from pipeline import cli

    environ = LOGIN | {f"{SASL}SASL_PLAIN_USERNAME": "scorer", f"{SASL}SASL_PLAIN_PASSWORD": "hunter2 "}
    settings = load_settings(None, environ)
    with caplog.at_level("WARNING"):
        cli.log_start_notes(settings)
    assert any(
        "kafka.security.sasl_plain_password ends with white space" in r.getMessage() for r in caplog.records
    )
