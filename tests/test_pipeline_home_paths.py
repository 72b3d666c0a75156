"""``dhag-pipeline`` paths given as ``--config=~/x.yaml`` and ``models --registry=~/reg``, where the shell
leaves the ``~`` as it is (it expands one only at a word's start): the home folder's, as the paths inside
a config file are, not a folder named ``~`` in the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import registry
from pipeline.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder, and a working folder apart from it (where an unexpanded ``~`` went)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path / "home"


def test_check_config_reads_a_config_after_an_equals_sign(home: Path, capsys) -> None:
    # Before: "config error: cannot read '~/x.yaml': No such file or directory", exit 2.
    (home / "x.yaml").write_text("model:\n  registry: /srv/models-from-home\n")
    assert main(["check-config", "--config=~/x.yaml"]) == 0
    assert "/srv/models-from-home" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["before", "after"])
def test_models_takes_a_registry_after_an_equals_sign(fitted, home: Path, capsys, where) -> None:
    # Before: "models list: refused: there is no registry folder '~/reg'", exit 2.
    registry.publish(home / "reg", fitted, "v1", make_current=True)
    argv = (
        ["models", "--registry=~/reg", "list"]
        if where == "before"
        else ["models", "list", "--registry=~/reg"]
    )
    assert main(argv) == 0
    assert "v1" in capsys.readouterr().out
