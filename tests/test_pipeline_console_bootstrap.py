"""``--bootstrap`` of the operator consoles (``alerts``, ``label``) and of ``simulate`` is checked as
``kafka.bootstrap_servers`` is: an address the Kafka client cannot take is refused in one line naming
the option (exit 2), before any client waits on it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline import alertscmd
from pipeline.cli import EXIT_CONFIG, main
from pipeline.simulator import command as simulate

COMMANDS = {
    "alerts": ["alerts"],
    "label": ["label", "a-1", "--anomaly", "--operator", "kim"],
    "simulate": ["simulate", "--duration", "1"],
}


def _reached(*_: Any, **__: Any) -> Any:
    raise AssertionError("reached for Kafka")


@pytest.fixture(autouse=True)
def _no_kafka(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml: the built-in settings
    for name in list(os.environ):
        if name.startswith("DHAG_PIPELINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(alertscmd, "read_topic", _reached)
    monkeypatch.setattr(alertscmd, "KafkaProducer", _reached)
    monkeypatch.setattr(simulate, "_stream", _reached)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    ("given", "said"),
    [
        # Before: each was handed to the client, which waited kafka.request_timeout_ms (30 s) on it
        # and exited 3, "cannot read the alerts from Kafka at ...", or simulate retried it as an outage.
        ("PLAINTEXT://kafka-1:9092", "'PLAINTEXT://kafka-1:9092': drop 'PLAINTEXT://'"),
        ("fe80::1:9092", "'fe80::1:9092': an IPv6 address goes in brackets, [fe80::1]:9092"),
        ("kafka-1:9092,,kafka-2:9092", "an empty address (a comma too many)"),
        ("kafka-1:99999", "'kafka-1:99999': port 99999 is not 1 to 65535"),
        ("[kafka-1:9092, kafka-2:9092]", "'[kafka-1:9092' is not host:port"),
        ("", "'' names no broker"),  # before: taken as no --bootstrap, kafka.bootstrap_servers used
    ],
    ids=["prefix", "ipv6", "empty", "port", "list", "nothing"],
)
def test_a_bootstrap_option_kafka_bootstrap_servers_would_refuse_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str], command: str, given: str, said: str
) -> None:
    assert main([*COMMANDS[command], "--bootstrap", given]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.err.startswith("--bootstrap: ") and said in captured.err, captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.endswith("; allowed: comma-separated host:port addresses\n")


def test_a_bootstrap_option_the_client_takes_reaches_kafka_as_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(alertscmd, "read_topic", lambda bootstrap, *_: asked.append(bootstrap) or [])
    assert main(["alerts", "--bootstrap", " kafka-1:9092, [fe80::1%eth0]:9092"]) == 0
    assert asked == ["kafka-1:9092,[fe80::1%eth0]:9092"] * 2  # the alerts and the labels topics
    assert capsys.readouterr().out == "no alerts\n"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_embedded_bootstrap_is_still_refused_as_no_address_to_reach(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([*COMMANDS[command], "--bootstrap", "embedded"]) == EXIT_CONFIG
    assert "pass --bootstrap HOST:PORT or set kafka.bootstrap_servers" in capsys.readouterr().err
