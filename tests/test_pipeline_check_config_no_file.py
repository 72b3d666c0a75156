"""``check-config`` run where no config file is read (no ``--config``, no ``./config.yaml``: the wrong
folder, a file named otherwise) says so: the settings it prints and passes are the built-in defaults,
not the operator's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main

NO_FILE = "warning: no config file was read (no --config, and no config.yaml in {folder!r}): "


def test_check_config_without_a_config_file_says_it_checked_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert "batch_size: 5000\n" in out
    # Before: the defaults' own warnings (the embedded broker, no registry folder), and nothing saying
    # that no file was read: exit 0 read as "my config is sound".
    first = err.splitlines()[0]
    assert first.startswith(NO_FILE.format(folder=str(tmp_path)))
    assert "the built-in defaults" in first


@pytest.mark.parametrize("given", [False, True])
def test_check_config_with_a_config_file_does_not(
    given: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ("other.yaml" if given else "config.yaml")).write_text("kafka: {batch_size: 50}\n")
    assert main(["check-config", *(["--config", "other.yaml"] if given else [])]) == 0
    out, err = capsys.readouterr()
    assert "batch_size: 50\n" in out
    assert "no config file" not in err
