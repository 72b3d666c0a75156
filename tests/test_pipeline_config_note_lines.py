"""A warning of ``check-config`` (and of ``run`` and ``retrain`` as they start) about settings says where
each key it names was set: the line of the config file, or the environment variable. Before, it named
the keys only, and an operator with several config files and overrides had to find them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.cli import main
from pipeline.config import load_settings


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


def test_check_config_names_the_lines_of_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: kafka-1:9092\n  request_timeout_ms: 30000\n"
        "  session_timeout_ms: 3000\n  heartbeat_interval_ms: 1000\nshutdown_grace_s: 20\n"
    )
    assert main(["check-config", "--config", str(config)]) == 0
    warnings = _warnings(capsys.readouterr().err)
    grace = next(line for line in warnings if "shutdown_grace_s" in line)
    assert grace.endswith(f"(lines 3 and 6 of {str(config)!r})")
    session = next(line for line in warnings if "kafka.session_timeout_ms 3000" in line)
    assert session.endswith(f"(line 4 of {str(config)!r})")


def test_check_config_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  bootstrap_servers: kafka-1:9092\n")
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS", "3000")
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__HEARTBEAT_INTERVAL_MS", "1000")
    assert main(["check-config", "--config", str(config)]) == 0
    session = next(line for line in _warnings(capsys.readouterr().err) if "session_timeout_ms" in line)
    assert session.endswith("(set by DHAG_PIPELINE_KAFKA__SESSION_TIMEOUT_MS)")


def test_run_says_it_as_it_starts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  session_timeout_ms: 3000\n  heartbeat_interval_ms: 1000\n")
    with caplog.at_level(logging.WARNING):
        cli.log_start_notes(load_settings(config, {}), environ={}, path=str(config))
    assert f"(line 2 of {str(config)!r})" in caplog.text


def test_check_config_names_where_a_file_this_host_lacks_was_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "config error: kafka.security.ssl_cafile: cannot read ...", with no line or variable, as
    # every other config error has.
    config = tmp_path / "config.yaml"
    config.write_text(
        f"kafka:\n  security:\n    security_protocol: SSL\n    ssl_cafile: {tmp_path / 'ca.pem'}\n"
    )
    monkeypatch.setenv("DHAG_PIPELINE_KAFKA__SECURITY__SSL_CERTFILE", str(tmp_path / "cert.pem"))
    assert main(["check-config", "--config", str(config)]) == 2
    cafile, certfile = capsys.readouterr().err.splitlines()
    assert cafile.startswith("config error: kafka.security.ssl_cafile: cannot read ")
    assert cafile.endswith(f"(line 4 of {str(config)!r})")
    assert certfile.endswith("(set by DHAG_PIPELINE_KAFKA__SECURITY__SSL_CERTFILE)")


def test_check_config_names_where_a_registry_not_there_was_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("kafka:\n  bootstrap_servers: kafka-1:9092\nmodel:\n  registry: modles/registry\n")
    assert main(["check-config", "--config", str(config)]) == 0
    registry = next(line for line in _warnings(capsys.readouterr().err) if "model.registry" in line)
    assert "there is no such folder" in registry and registry.endswith(f"(line 4 of {str(config)!r})")
