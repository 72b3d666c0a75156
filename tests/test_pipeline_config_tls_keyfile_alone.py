"""``kafka.security.ssl_keyfile`` set without ``ssl_certfile``: kafka-python reads the key only beside a
certificate, so the client would connect without either and the broker refuse it as a client without a
certificate. Refused by check-config (exit 2) and as a client is made, naming both keys and where the
key file was set; before, it was taken in silence."""

from __future__ import annotations

from pathlib import Path

import pytest
from tls_support import tls_files

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.configsecurity import SecuritySettings
from pipeline.errors import ConfigError

_SAID = "config error: kafka.security.ssl_keyfile: set without kafka.security.ssl_certfile"


def test_a_key_file_without_a_certificate_is_refused_naming_both_keys(tmp_path: Path) -> None:
    files = tls_files(tmp_path)
    security = {"security_protocol": "SSL", "ssl_cafile": str(files["ca"]), "ssl_keyfile": str(files["key"])}
    (problem,) = SecuritySettings.model_validate(security).problems_here()
    assert problem.startswith(_SAID)
    with_cert = security | {"ssl_certfile": str(files["cert"])}
    assert SecuritySettings.model_validate(with_cert).problems_here() == []
    plaintext = security | {"security_protocol": "PLAINTEXT"}  # no file is read: nothing to refuse
    assert SecuritySettings.model_validate(plaintext).problems_here() == []


def test_the_client_and_check_config_refuse_it_with_the_line_that_set_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = tls_files(tmp_path / "tls")
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: k:9092\n  security:\n    security_protocol: SSL\n"
        f"    ssl_cafile: {files['ca']}\n    ssl_keyfile: {files['key']}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config, {}).kafka.security.client_options()
    assert str(raised.value).startswith(_SAID)
    assert f"(line 6 of {str(config)!r})" in str(raised.value)
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == "" and _SAID in captured.err
