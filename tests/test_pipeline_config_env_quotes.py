"""An override written as an env file's line, ``KEY="value"``, which ``docker run --env-file`` and a
Kubernetes env from such a file pass on with its quotes: a text setting takes what is inside them, with a
warning naming the variable (never the value), rather than the quotes as part of a group id, a path or a
password."""

from __future__ import annotations

import logging

import pytest

from pipeline import cli
from pipeline.cli import main
from pipeline.config import load_settings

SECURITY = "DHAG_PIPELINE_KAFKA__SECURITY__"


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_text_setting_wrapped_in_quotes_takes_what_is_inside(quote: str) -> None:
    # Before: group id '"scorers"', broker '"kafka-1:9092"' (refused: not host:port), a password with
    # its quotes sent to the broker.
    settings = load_settings(
        None,
        {
            "DHAG_PIPELINE_KAFKA__GROUP_ID": f"{quote}scorers{quote}",
            "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": f"{quote}kafka-1:9092{quote}",
            f"{SECURITY}SASL_PLAIN_PASSWORD": f"{quote}hunter 2{quote}",
            f"{SECURITY}SSL_CAFILE": f"{quote}/etc/ca.pem{quote}",
        },
    )
    assert settings.kafka.group_id == "scorers"
    assert settings.kafka.bootstrap_servers == "kafka-1:9092"
    assert settings.kafka.security.sasl_plain_password.get_secret_value() == "hunter 2"
    assert settings.kafka.security.ssl_cafile == "/etc/ca.pem"


@pytest.mark.parametrize("value", ['"a"b"', "'x", 'a"', "\"x'", '"', "'a' and 'b'"])
def test_text_not_wholly_wrapped_in_one_kind_of_quote_is_taken_as_written(value: str) -> None:
    settings = load_settings(None, {"DHAG_PIPELINE_KAFKA__CLIENT_ID": value})
    assert settings.kafka.client_id == value


def test_check_config_warns_naming_the_variable_never_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir("/")
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__GROUP_ID", '"scorers"')
    monkeypatch.setenv(f"{SECURITY}SASL_PLAIN_PASSWORD", '"hunter2"')
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert "group_id: scorers\n" in out
    warning = next(line for line in err.splitlines() if "quotes" in line)
    assert warning.startswith("warning: DHAG_PIPELINE_KAFKA__GROUP_ID (kafka.group_id) and ")
    assert f"{SECURITY}SASL_PLAIN_PASSWORD (kafka.security.sasl_plain_password)" in warning
    assert "hunter2" not in err


def test_run_logs_the_warning_as_it_starts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"DHAG_PIPELINE_KAFKA__GROUP_ID": "'scorers'"}
    with caplog.at_level(logging.WARNING):
        cli.log_start_notes(load_settings(None, environ), environ=environ)
    assert "DHAG_PIPELINE_KAFKA__GROUP_ID (kafka.group_id)" in caplog.text


def test_a_quoted_number_is_still_read_as_yaml_text_and_refused_saying_so() -> None:
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="quoted, a number is text"):
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BATCH_SIZE": '"500"'})
