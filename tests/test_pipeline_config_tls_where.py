"""A certificate file a client cannot read, found as the client is made (``client_options``: after
start-up, or by a command check-config's checks do not precede), is refused naming the line of the config
file or the environment variable that set it, as check-config names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.brokerlink import client_options
from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError


def test_a_tls_file_missing_at_run_time_names_its_line(tmp_path: Path) -> None:
    # Before: "config error: kafka.security.ssl_cafile: cannot read '...': No such file or directory",
    # naming neither the line nor the variable.
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: k:9093\n  security:\n    security_protocol: SSL\n"
        f"    ssl_cafile: {tmp_path / 'ca.pem'}\n"
    )
    environ = {"DHAG_PIPELINE_KAFKA__SECURITY__SSL_CERTFILE": str(tmp_path / "cert.pem")}
    settings = load_settings(config, environ)
    with pytest.raises(ConfigError) as refused:
        client_options(settings.kafka, "k:9093")
    cafile, certfile = str(refused.value).splitlines()
    assert cafile.startswith("config error: kafka.security.ssl_cafile: cannot read ")
    assert cafile.endswith(f"(line 5 of {str(config)!r})")
    assert certfile.endswith("(set by DHAG_PIPELINE_KAFKA__SECURITY__SSL_CERTFILE)")


def test_where_settings_came_from_leaves_them_equal(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  security:\n    security_protocol: SSL\n")
    loaded = load_settings(config, {})
    built = Settings.model_validate({"kafka": {"security": {"security_protocol": "SSL"}}})
    assert loaded.kafka.security == built.kafka.security
    assert hash(loaded.kafka.security) == hash(built.kafka.security)
    with pytest.raises(ConfigError, match=r"ssl_cafile: cannot read '/nowhere/ca\.pem': [^(]*$"):
        built.kafka.security.model_copy(update={"ssl_cafile": "/nowhere/ca.pem"}).client_options()
