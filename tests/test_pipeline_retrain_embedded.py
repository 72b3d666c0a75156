"""The retrainer on ``kafka.bootstrap_servers: embedded``: a broker of its own, which no daemon writes
to and no operator labels on, would leave it reading nothing and never training; it stops at start-up
naming the key (exit 2), and ``check-config`` says so. The demo hands its retrainer its broker's
address."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main

SAID = "config error: kafka.bootstrap_servers is embedded"


class _NoBroker:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the retrainer started a broker of its own")


@pytest.mark.parametrize("mode", ["--once", "--watch", None])
def test_the_retrainer_refuses_an_embedded_broker_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mode: str | None
) -> None:
    # Before: it started a private Tansu broker, provisioned the topics on it and polled them for good
    # (--watch) or found nothing to train on (--once), never saying why no reading or label came.
    monkeypatch.setattr("pipeline.broker.EmbeddedBroker", _NoBroker)
    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    registry = tmp_path / "registry"
    registry.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  registry: {registry}\nmetrics:\n  enabled: false\n")
    argv = ["retrain", *([mode] if mode else []), "--config", str(config)]
    assert main(argv) == EXIT_CONFIG
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "ERROR" in line]
    assert len(lines) == 1 and SAID in lines[0], err
    assert "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS" in lines[0] and "host:port" in lines[0]
    assert not list(registry.iterdir())  # no label store, no lock file: nothing made


def test_the_retrainer_takes_the_address_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the demo starts it: the config says embedded, the environment the demo broker's address. The
    # registry missing stops it next (exit 4), before Kafka: past the refusal.
    monkeypatch.setattr("pipeline.broker.EmbeddedBroker", _NoBroker)
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:1")
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  registry: {tmp_path / 'none'}\nmetrics:\n  enabled: false\n")
    assert main(["retrain", "--once", "--config", str(config)]) == 4
    assert SAID not in capsys.readouterr().err


def test_check_config_warns_that_retrain_refuses_an_embedded_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: check-config passed it in silence, and the retrainer started on it and never trained.
    monkeypatch.delenv("DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "current").write_text("v1\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  registry: {registry}\n")
    assert main(["check-config", "--config", str(config)]) == 0  # run and the demo take it
    err = capsys.readouterr().err
    assert "warning: kafka.bootstrap_servers is embedded" in err and "retrain" in err, err
    config.write_text(f"model:\n  registry: {registry}\nkafka:\n  bootstrap_servers: k:9092\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "bootstrap_servers is embedded" not in capsys.readouterr().err


def test_the_demo_gives_its_retrainer_its_broker_s_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import demochildren
    from pipeline.config import Settings
    from pipeline.demo import DemoOptions

    started: list[dict[str, str]] = []

    class _Popen:
        pid = 1

        def __init__(self, cmd: list[str], env: dict[str, str], **kwargs: object) -> None:
            started.append(env)

    monkeypatch.setattr(demochildren.subprocess, "Popen", _Popen)
    settings = Settings()  # embedded
    extra = {"KAFKA__TOPICS__INPUT": "dhag-demo.sensor-readings"}
    demochildren.start_retrainer(settings, DemoOptions(), "127.0.0.1:4242", Path("labels.sqlite"), extra)
    (env,) = started
    assert env["DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:4242"
