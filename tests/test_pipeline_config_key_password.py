"""``kafka.security.ssl_password``, the password of the client's TLS key, held to the rules of a SASL
login's credentials: a line break in it (a Secret written with ``echo``) is refused at start-up naming the
key, never the value; white space around it is taken with a warning. Before, both were given to the TLS
library, which failed to decrypt the key: a broker the service could not reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError
from pipeline.settingnotes import setting_notes

SECURITY = "DHAG_PIPELINE_KAFKA__SECURITY__"
TLS = {f"{SECURITY}SECURITY_PROTOCOL": "SSL"}


@pytest.mark.parametrize("value", ["k3y-pass\n", "k3y-pass\r\n", "k3y\npass"])
def test_a_line_break_in_the_key_password_is_refused_naming_the_key_not_the_value(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, TLS | {f"{SECURITY}SSL_PASSWORD": value})
    said = str(info.value)
    assert "config error: kafka.security.ssl_password holds a line break" in said
    assert f"(set by {SECURITY}SSL_PASSWORD)" in said
    assert "k3y" not in said


def test_the_line_of_the_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('kafka:\n  security:\n    security_protocol: SSL\n    ssl_password: "k3y\\n"\n')
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "kafka.security.ssl_password holds a line break at its end" in err
    assert f"line 4 of {str(config)!r}" in err
    assert "k3y" not in err


def test_a_key_password_tls_does_not_use_is_left_to_the_security_note() -> None:
    settings = load_settings(None, {f"{SECURITY}SSL_PASSWORD": "k3y\n"})
    assert any("kafka.security.ssl_password is set, but" in note for note in setting_notes(settings))


def test_white_space_around_the_key_password_is_warned_of() -> None:
    settings = load_settings(None, TLS | {f"{SECURITY}SSL_PASSWORD": " k3y"})
    notes = [note for note in setting_notes(settings) if "ssl_password" in note]
    assert notes and "kafka.security.ssl_password starts with white space" in notes[0]
    assert "k3y" not in notes[0]
