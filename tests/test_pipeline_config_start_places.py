"""Every warning ``run`` logs as it starts about its settings says where their keys were set: the line of
the config file or the environment variable (:func:`pipeline.configchecks.where_set`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.config import load_settings
from pipeline.runservice import EXIT_MODEL, _run_service


def _short_grace(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"model:\n  registry: {tmp_path / 'registry'}\n"
        "kafka:\n  bootstrap_servers: k:9092\n  request_timeout_ms: 30000\nshutdown_grace_s: 20\n"
    )
    return config


def test_run_names_where_the_grace_and_the_request_timeout_were_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: run logged "shutdown_grace_s 20s is not above kafka.request_timeout_ms (30s): a stop may be
    # forced" as it loaded its model, naming no line, where check-config named them.
    config = _short_grace(tmp_path)
    settings = load_settings(config, {})
    with caplog.at_level(logging.WARNING):
        cli.log_start_notes(settings, environ={}, path=str(config))
        assert _run_service(settings) == EXIT_MODEL  # no model in the registry: stops after its notes
    grace = [r.getMessage() for r in caplog.records if "shutdown_grace_s" in r.getMessage()]
    assert grace == [
        "shutdown_grace_s 20s is not above kafka.request_timeout_ms (30s): a stop may be forced "
        f"(lines 5 and 6 of {str(config)!r})"
    ]


def test_the_retrainer_is_not_told_of_the_daemons_grace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _short_grace(tmp_path)
    with caplog.at_level(logging.WARNING):
        cli.log_start_notes(load_settings(config, {}), retrainer=True, environ={}, path=str(config))
    assert "shutdown_grace_s" not in caplog.text
