"""A model path that names no file, or a folder, given to ``dhag info`` or ``dhag score``: the refusal
names the artifacts it may have meant (``pump`` beside ``pump.dhag``), and says nothing more where there
is none near."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag import ArtifactError, load_model
from dhag.cli import main


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.fixture
def pump(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path).rename(tmp_path / "pump.dhag")


def _refused(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("command", ["info", "score"])
def test_a_model_named_without_its_suffix_names_the_file_with_it(
    command: str, pump: Path, rows: Path, capsys, monkeypatch
) -> None:
    # Before: "Cannot read model artifact 'pump': No such file or directory." beside pump.dhag.
    monkeypatch.chdir(pump.parent)
    argv = ["info", "pump"] if command == "info" else ["score", "--model", "pump", "--data", str(rows)]
    err = _refused(argv, capsys)
    said = "Cannot read model artifact 'pump': No such file or directory; did you mean 'pump.dhag'?"
    assert err.endswith(f"{said}\n")


@pytest.mark.parametrize("given", ["pmp.dhag", "pump.dhg", "Pump.dhag", "pumps"])
def test_a_model_name_a_character_off_names_the_artifact_near_it(given: str, pump: Path, capsys) -> None:
    err = _refused(["info", str(pump.parent / given)], capsys)
    assert f"No such file or directory; did you mean {str(pump)!r}?" in err


def test_several_artifacts_near_the_name_are_named_nearest_first(pump: Path, capsys) -> None:
    shutil.copy(pump, pump.parent / "pomp.dhag")
    shutil.copy(pump, pump.parent / "boiler.dhag")
    err = _refused(["info", str(pump.parent / "pmp")], capsys)
    assert f"did you mean {str(pump.parent / 'pomp.dhag')!r} or {str(pump)!r}?" in err
    assert "boiler" not in err


def test_a_name_near_no_artifact_is_refused_as_before(pump: Path, capsys) -> None:
    (pump.parent / "pump.csv").write_text("a\n1\n")  # a near name, but no model's
    for given in ("boiler", "pump.cs", "nowhere/pump"):
        err = _refused(["info", str(pump.parent / given)], capsys)
        assert err.endswith(f"{str(pump.parent / given)!r}: No such file or directory.\n"), err


def test_load_model_names_the_artifact_too(pump: Path) -> None:
    with pytest.raises(ArtifactError, match=r"did you mean '.*pump\.dhag'\?$"):
        load_model(pump.with_suffix(""))
