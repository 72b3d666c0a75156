"""SASL settings kafka-python cannot authenticate with, refused at start-up naming the keys: before,
each passed check-config, and every connection then failed inside the client, which the service
reported as a broker it could not reach (exit 3, minutes later)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError

SASL = "DHAG_PIPELINE_KAFKA__SECURITY__"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_password_mechanism_without_its_credentials_is_refused_naming_them(mechanism: str) -> None:
    # kafka-python joins the user name and password it was given (None) into the login: a TypeError in
    # each connection.
    environ = {f"{SASL}SECURITY_PROTOCOL": "SASL_SSL", f"{SASL}SASL_MECHANISM": mechanism}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ | {f"{SASL}SASL_PLAIN_USERNAME": "scorer"})
    said = str(info.value)
    assert (
        f"kafka.security.sasl_mechanism {mechanism} logs in with kafka.security.sasl_plain_username " in said
    )
    assert "kafka.security.sasl_plain_password is not set" in said
    assert "scorer" not in said
    taken = environ | {f"{SASL}SASL_PLAIN_USERNAME": "scorer", f"{SASL}SASL_PLAIN_PASSWORD": "pw"}
    assert load_settings(None, taken).kafka.security.sasl_mechanism == mechanism


def test_oauthbearer_is_refused_saying_no_setting_gives_its_token() -> None:
    # kafka-python takes an OAUTHBEARER token only from a Python object, which no setting can give.
    environ = {f"{SASL}SECURITY_PROTOCOL": "SASL_SSL", f"{SASL}SASL_MECHANISM": "OAUTHBEARER"}
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    said = str(info.value)
    assert said.startswith("config error: kafka.security.sasl_mechanism: OAUTHBEARER needs a token provider")
    assert "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI" in said


def test_gssapi_without_its_library_is_refused_by_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    if importlib.util.find_spec("gssapi") is not None:
        pytest.skip("the gssapi library is installed here")
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  security:\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: GSSAPI\n"
    )
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "config error: kafka.security.sasl_mechanism: GSSAPI needs the Python package gssapi" in err


@pytest.mark.parametrize("key", ["SASL_PLAIN_USERNAME", "SASL_PLAIN_PASSWORD"])
def test_an_empty_user_name_or_password_of_a_password_mechanism_is_refused_naming_it(key: str) -> None:
    # Before: taken, by check-config too (a variable set from a secret that was not there is empty);
    # `run` then sent the broker an empty login, which no PLAIN or SCRAM login is, for it to refuse.
    environ = {
        f"{SASL}SECURITY_PROTOCOL": "SASL_SSL",
        f"{SASL}SASL_MECHANISM": "SCRAM-SHA-512",
        f"{SASL}SASL_PLAIN_USERNAME": "scorer",
        f"{SASL}SASL_PLAIN_PASSWORD": "pw",
    }
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ | {f"{SASL}{key}": ""})
    said = str(info.value)
    assert f"but kafka.security.{key.lower()} is empty" in said
    assert f"{SASL}{key}" in said.partition("(set by ")[2]
    assert "pw" not in said.replace("password", "")
    # PLAINTEXT sends no login: an empty one is left alone there (security_note says it is unused).
    assert load_settings(None, {f"{SASL}{key}": ""}).kafka.security.security_protocol == "PLAINTEXT"
