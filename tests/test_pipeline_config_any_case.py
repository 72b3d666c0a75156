"""kafka.security.security_protocol, kafka.security.sasl_mechanism, kafka.auto_offset_reset,
logging.format and records.missing_policy are taken in any case, as Kafka's own clients take the first
three, and kept (and printed by check-config) as spelled canonically: before, ``sasl_ssl``, ``plain``,
``Earliest``, ``JSON`` or ``Impute`` was refused ("allowed: ..."), though its meaning was clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.errors import ConfigError

WRITTEN = """\
kafka:
  bootstrap_servers: kafka-1:9093
  auto_offset_reset: Earliest
  security:
    security_protocol: sasl_ssl
    sasl_mechanism: scram-sha-512
    sasl_plain_username: ana
    sasl_plain_password: secret
logging:
  format: JSON
"""


def test_each_is_taken_in_any_case_as_spelled_canonically(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(WRITTEN)
    settings = load_settings(config, {})
    security = settings.kafka.security
    assert (security.security_protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (settings.kafka.auto_offset_reset, settings.logging.format) == ("earliest", "json")


@pytest.mark.parametrize(
    ("variable", "written", "kept"),
    [
        ("KAFKA__SECURITY__SECURITY_PROTOCOL", "Ssl", "SSL"),
        ("KAFKA__SECURITY__SASL_MECHANISM", "plain", "PLAIN"),
        ("KAFKA__AUTO_OFFSET_RESET", "LATEST", "latest"),
        ("LOGGING__FORMAT", "Plain", "plain"),
        ("RECORDS__MISSING_POLICY", "Impute", "impute"),
    ],
)
def test_an_environment_override_is_taken_in_any_case(variable: str, written: str, kept: str) -> None:
    settings = load_settings(None, {f"DHAG_PIPELINE_{variable}": written})
    section, _, key = variable.lower().rpartition("__")
    owner = settings
    for part in section.split("__"):
        owner = getattr(owner, part)
    assert getattr(owner, key) == kept


def test_check_config_prints_the_canonical_spelling(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(WRITTEN)
    assert main(["check-config", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    for line in (
        "security_protocol: SASL_SSL",
        "sasl_mechanism: SCRAM-SHA-512",
        "auto_offset_reset: earliest",
    ):
        assert f"  {line}\n" in printed, printed
    assert "  format: json\n" in printed


@pytest.mark.parametrize(
    ("variable", "written", "said"),
    [
        ("KAFKA__SECURITY__SECURITY_PROTOCOL", "tls", "has value 'tls'; allowed: 'PLAINTEXT', 'SSL'"),
        ("KAFKA__SECURITY__SASL_MECHANISM", "oauthbearer", "OAUTHBEARER needs a token provider"),
        ("KAFKA__AUTO_OFFSET_RESET", "First", "has value 'First'; allowed: 'earliest' or 'latest'"),
    ],
)
def test_a_value_of_no_name_is_still_refused_as_written(variable: str, written: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        load_settings(None, {f"DHAG_PIPELINE_{variable}": written})
