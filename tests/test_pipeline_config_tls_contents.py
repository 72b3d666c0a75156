"""A TLS file the TLS library refuses (empty, not PEM, the key of another certificate) or a
``kafka.security.ssl_password`` that does not decrypt the key is refused by check-config (exit 2) and as
a client is made, naming the key and the library's reason; before, the files were only checked to be
readable, and each showed up as a broker out of reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from tls_support import KEY_PASSWORD, tls_files

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.configsecurity import SecuritySettings
from pipeline.errors import ConfigError


def _security(files: dict[str, Path], **changed: object) -> dict[str, object]:
    written: dict[str, object] = {
        "security_protocol": "SSL",
        "ssl_cafile": str(files["ca"]),
        "ssl_certfile": str(files["cert"]),
        "ssl_keyfile": str(files["encrypted_key"]),
        "ssl_password": KEY_PASSWORD,
    }
    return {key: value for key, value in (written | changed).items() if value is not None}


def _problems(files: dict[str, Path], **changed: object) -> list[str]:
    return SecuritySettings.model_validate(_security(files, **changed)).problems_here()


def test_real_material_is_taken(tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    assert _problems(files) == []
    assert _problems(files, ssl_keyfile=str(files["key"]), ssl_password=None) == []
    both = tmp_path / "both.pem"  # the certificate and its key in one file, no ssl_keyfile
    both.write_text(files["cert"].read_text() + files["key"].read_text())
    assert _problems(files, ssl_certfile=str(both), ssl_keyfile=None, ssl_password=None) == []


@pytest.mark.parametrize("content", ["", "not a certificate\n", "-----BEGIN CERTIFICATE-----\n"])
@pytest.mark.parametrize("key", ["ssl_cafile", "ssl_certfile"])
def test_a_file_without_a_certificate_is_refused_naming_its_key(
    tmp_path: Path, key: str, content: str
) -> None:
    files = tls_files(tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text(content)
    (problem,) = _problems(files, **{key: str(bad)})
    assert problem.startswith(f"config error: kafka.security.{key}: {str(bad)!r} holds no certificate ")
    assert "the TLS library can load ([X509" in problem  # its reason, as the library gives it


def test_a_wrong_password_is_refused_never_shown(tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    (problem,) = _problems(files, ssl_password="not-the-pass")
    assert problem.startswith("config error: kafka.security.ssl_password: does not decrypt the key in ")
    assert "not-the-pass" not in problem
    (unset,) = _problems(files, ssl_password=None)  # before: OpenSSL asked for it on the terminal
    assert unset.startswith("config error: kafka.security.ssl_keyfile: the key in ")
    assert "is encrypted, and kafka.security.ssl_password is not set" in unset


def test_a_key_that_is_no_key_or_another_certificates_is_refused(tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    (other,) = _problems(files, ssl_keyfile=str(files["other_key"]), ssl_password=None)
    assert other.startswith("config error: kafka.security.ssl_keyfile: the key in ")
    assert "KEY_VALUES_MISMATCH" in other
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    (none,) = _problems(files, ssl_keyfile=str(empty), ssl_password=None)
    assert none.startswith(f"config error: kafka.security.ssl_keyfile: {str(empty)!r} holds no private key")
    (alone,) = _problems(files, ssl_keyfile=None, ssl_password=None)
    assert alone.startswith("config error: kafka.security.ssl_certfile: ")
    assert "holds no private key the TLS library can load, and kafka.security.ssl_keyfile is not set" in alone


def test_check_config_refuses_it_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = tls_files(tmp_path / "tls")
    config = tmp_path / "config.yaml"
    lines = "".join(f"    {key}: {value}\n" for key, value in _security(files, ssl_password="wrong").items())
    config.write_text(f"kafka:\n  bootstrap_servers: k:9093\n  security:\n{lines}")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("config error: kafka.security.ssl_password: does not decrypt")
    assert line.endswith(f"(line 8 of {str(config)!r})") and "wrong" not in line.split("(line")[0]


def test_a_client_is_refused_it_naming_the_variable(tmp_path: Path) -> None:
    files = tls_files(tmp_path / "tls")
    empty = tmp_path / "ca.pem"
    empty.write_text("")
    security = _security(files)
    environ = {f"DHAG_PIPELINE_KAFKA__SECURITY__{key.upper()}": str(v) for key, v in security.items()}
    environ["DHAG_PIPELINE_KAFKA__SECURITY__SSL_CAFILE"] = str(empty)
    settings = load_settings(None, environ | {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "k:9093"})
    with pytest.raises(
        ConfigError, match=r"^config error: kafka.security.ssl_cafile: .*holds no certificate"
    ):
        settings.kafka.security.client_options()
