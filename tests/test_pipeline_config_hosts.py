"""Host names the service would hand to the resolver: ``metrics.host`` and the hosts of
``kafka.bootstrap_servers``. One that no resolver can take (two dots together, a part over 63
characters) or that is no host at all (a URL, a port written into it) stops start-up naming the key,
exit 2, rather than failing when the service starts to listen or connect."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings
from pipeline.errors import ConfigError

VARIABLE = "DHAG_PIPELINE_METRICS__HOST"


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("127.0.0..1", "an empty part between two dots"),
        (".example.com", "an empty part between two dots"),
        ("a" * 64 + ".example.com", "a part longer than 63 characters"),
        ("localhost:9108", "the port is metrics.port: write 'localhost'"),
        ("0.0.0.0:9108", "the port is metrics.port: write '0.0.0.0'"),
        ("http://localhost", "drop 'http://'"),
        ("[::1]", "an IPv6 address goes without brackets here: write '::1'"),
        ("my host", "is no host name or IP address"),
        ("fe80::zz", "is no host name or IP address"),
    ],
)
def test_a_metrics_host_no_resolver_takes_is_refused_naming_the_key(host: str, said: str) -> None:
    # Before: accepted, also by check-config; `run` then loaded its model and, for a host with two dots
    # together, died in a UnicodeError traceback, exit 1 (for the others: exit 2 when it tried to listen).
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {VARIABLE: host})
    message = str(refused.value)
    assert message.startswith(f"config error: metrics.host: {host!r} ")
    assert said in message and message.endswith(f"(set by {VARIABLE})")


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "0.0.0.0", "::", "::1", "fe80::1%eth0", "localhost", "metrics.plant-7.local.", "my_host"],
)
def test_a_host_name_or_address_is_taken(host: str) -> None:
    assert load_settings(None, {VARIABLE: host}).metrics.host == host


def test_check_config_refuses_a_metrics_host_with_two_dots_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("metrics:\n  host: 127.0.0..1\n")
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("config error: metrics.host: '127.0.0..1' ")


@pytest.mark.parametrize(
    ("servers", "said"),
    [
        ("kafka..plant.local:9092", "'kafka..plant.local' has an empty part between two dots"),
        ("kafka-1:9092,.kafka-2:9092", "'.kafka-2' has an empty part between two dots"),
        ("k" * 64 + ".local:9092", "has a part longer than 63 characters"),
    ],
)
def test_a_broker_host_no_resolver_takes_is_refused_naming_the_key(servers: str, said: str) -> None:
    # Before: accepted, also by check-config; `run` then tried to reach it for kafka.unavailable_exit_s
    # and exited 3, "cannot reach Kafka at kafka..plant.local:9092", as if the cluster were down.
    variable = "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS"
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {variable: servers})
    message = str(refused.value)
    assert message.startswith("config error: kafka.bootstrap_servers: ")
    assert said in message and message.endswith(f"(set by {variable})")


def test_broker_hosts_a_resolver_takes_are_kept() -> None:
    servers = "kafka-1.plant.local.:9092,10.0.0.7:9092,[::1]:9092,broker_2:9093"
    assert (
        load_settings(None, {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": servers}).kafka.bootstrap_servers
        == servers
    )
