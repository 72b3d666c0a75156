"""``check-config`` prints the dead-letter topic the daemon writes to, ``<input>.dlq`` where
``kafka.topics.dlq`` is left null, as it prints the label store's default path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.cli import main


@pytest.mark.parametrize(
    ("topics", "dlq"),
    [
        ("{input: line-3-readings}", "line-3-readings.dlq"),
        ("{input: line-3-readings, dlq: null}", "line-3-readings.dlq"),
        ("{dlq: bad-readings}", "bad-readings"),
    ],
)
def test_check_config_prints_the_dead_letter_topic_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], topics: str, dlq: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(f"kafka: {{topics: {topics}}}\n")
    assert main(["check-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    # Before: 'dlq: null' for the default, so an operator looking for the topic of the readings the
    # daemon refused found no name in the settings it calls effective.
    assert printed["kafka"]["topics"]["dlq"] == dlq
