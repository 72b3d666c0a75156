"""`--config` given something that is not a settings file: an empty path, a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("", "config error: --config is empty: give the path of a YAML settings file"),
        ("{tmp}", "config error: '{tmp}' is a folder, not a settings file: give the YAML file in it"),
    ],
    ids=["empty", "folder"],
)
def test_a_config_path_that_is_no_file_says_what_it_is(tmp_path: Path, capsys, given: str, said: str) -> None:
    # Before: "cannot read '': Is a directory" for both (an unset variable in `--config "$CONFIG"`).
    assert main(["check-config", "--config", given.format(tmp=tmp_path)]) == EXIT_CONFIG
    assert capsys.readouterr().err.strip() == said.format(tmp=tmp_path)


@pytest.mark.parametrize(
    ("config", "said"),
    [
        (
            "shutdown_grace_s: 20\nkafka:\n  request_timeout_ms: 30000\n  bootstrap_servers: k:9092\n",
            "warning: shutdown_grace_s 20s is not above kafka.request_timeout_ms (30s): a stop may be forced "
            "(lines 1 and 3 of {path!r})",
        ),
        (
            "retrain:\n  min_new_labels: 0\n  interval_s: 0\n  on_drift: false\n"
            "kafka:\n  bootstrap_servers: k:9092\n",
            "warning: no retraining trigger is on (retrain.min_new_labels 0, retrain.interval_s 0, "
            "retrain.on_drift false): `retrain --watch` takes labels in but never trains; "
            "'retrain --once' trains on demand (lines 2, 3 and 4 of {path!r})",
        ),
    ],
    ids=["grace", "triggers"],
)
def test_check_config_says_what_the_commands_warn_of(tmp_path: Path, capsys, config: str, said: str) -> None:
    # Before: check-config passed them in silence; only `run` (the grace) and `retrain --watch` (the
    # triggers) said so, once started.
    path = tmp_path / "config.yaml"
    path.write_text(config)
    _model_at_default_registry(tmp_path)
    assert main(["check-config", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == said.format(path=str(path))  # the keys' lines since
    assert "shutdown_grace_s:" in captured.out  # the effective config, as before


def test_check_config_of_sound_settings_warns_of_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("kafka: {bootstrap_servers: 'k:9092'}\n")  # the defaults' embedded broker: a warning
    _model_at_default_registry(tmp_path)
    assert main(["check-config", "--config", str(path)]) == 0
    assert capsys.readouterr().err == ""


def _model_at_default_registry(folder: Path) -> None:
    """A current model where a config file in ``folder`` finds the registry by default (check-config
    warns of a registry without one)."""
    registry = folder / "models" / "registry"
    registry.mkdir(parents=True)
    (registry / "current").write_text("v1\n")
