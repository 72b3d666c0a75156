"""A model path that names no file, or a folder, given to ``dhag info`` or ``dhag score``: the refusal
names the artifacts it may have meant (``pump`` beside ``pump.dhag``), and says nothing more where there
is none near."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model, refused_once

from dhag import ArtifactError, load_model


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path)


@pytest.fixture
def pump(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path).rename(tmp_path / "pump.dhag")


@pytest.mark.parametrize("command", ["info", "score"])
def test_a_model_named_without_its_suffix_names_the_file_with_it(
    command: str, pump: Path, rows: Path, capsys, monkeypatch
) -> None:
    # Before: "Cannot read model artifact 'pump': No such file or directory." beside pump.dhag.
    monkeypatch.chdir(pump.parent)
    argv = ["info", "pump"] if command == "info" else ["score", "--model", "pump", "--data", str(rows)]
    err = refused_once(argv, capsys)
    said = "Cannot read model artifact 'pump': No such file or directory; did you mean 'pump.dhag'?"
    assert err.endswith(f"{said}\n")


@pytest.mark.parametrize("given", ["pmp.dhag", "pump.dhg", "Pump.dhag", "pumps"])
def test_a_model_name_a_character_off_names_the_artifact_near_it(given: str, pump: Path, capsys) -> None:
    err = refused_once(["info", str(pump.parent / given)], capsys)
    assert f"No such file or directory; did you mean {str(pump)!r}?" in err


def test_several_artifacts_near_the_name_are_named_nearest_first(pump: Path, capsys) -> None:
    shutil.copy(pump, pump.parent / "pomp.dhag")
    shutil.copy(pump, pump.parent / "boiler.dhag")
    err = refused_once(["info", str(pump.parent / "pmp")], capsys)
    assert f"did you mean {str(pump.parent / 'pomp.dhag')!r} or {str(pump)!r}?" in err
    assert "boiler" not in err


def test_a_name_near_no_artifact_is_refused_as_before(pump: Path, capsys) -> None:
    (pump.parent / "pump.csv").write_text("a\n1\n")  # a near name, but no model's
    for given in ("boiler", "pump.cs", "nowhere/pump"):
        err = refused_once(["info", str(pump.parent / given)], capsys)
        assert err.endswith(f"{str(pump.parent / given)!r}: No such file or directory.\n"), err


def test_load_model_names_the_artifact_too(pump: Path) -> None:
    with pytest.raises(ArtifactError, match=r"did you mean '.*pump\.dhag'\?$"):
        load_model(pump.with_suffix(""))


@pytest.mark.parametrize("command", ["info", "score"])
def test_a_folder_given_as_the_model_names_the_artifacts_in_it(
    command: str, pump: Path, rows: Path, capsys, monkeypatch
) -> None:
    # Before: "Model artifact 'models' is not a regular file." alone, with models/pump.dhag in it.
    models = pump.parent / "models"
    models.mkdir()
    pump.rename(models / "pump.dhag")
    monkeypatch.chdir(pump.parent)
    argv = ["info", "models"] if command == "info" else ["score", "--model", "models", "--data", str(rows)]
    err = refused_once(argv, capsys)
    said = "Model artifact 'models' is not a regular file. It is a folder; did you mean 'models/pump.dhag'?"
    assert err.endswith(f"{said}\n")


def test_a_folder_of_many_artifacts_names_the_newest(pump: Path, capsys) -> None:
    for n, name in enumerate(("v1.dhag", "v3.dhag", "v2.dhag", "v4.dhag")):
        shutil.copy(pump, pump.parent / name)
        os.utime(pump.parent / name, (1_000_000 + n, 1_000_000 + n))
    os.utime(pump, (0, 0))
    err = refused_once(["info", str(pump.parent)], capsys)
    newest = str(pump.parent / "v4.dhag")
    assert f"It is a folder; did you mean one of its 5 .dhag files, such as {newest!r} (the newest)?" in err


def test_a_folder_of_no_artifact_says_so(tmp_path: Path, capsys) -> None:
    (tmp_path / "rows.csv").write_text("a\n1\n")
    (tmp_path / "inner.dhag").mkdir()  # a folder, named as an artifact
    err = refused_once(["info", str(tmp_path)], capsys)
    assert err.endswith("is not a regular file. It is a folder, which holds no .dhag file.\n")
    assert "did you mean" not in err


def test_a_named_pipe_or_a_device_given_as_the_model_is_said_to_be_one_unopened(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    # Before: "Model artifact 'p' is not a regular file." alone, the pipe opened before it was looked at.
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(
        os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k)
    )
    err = refused_once(["info", str(fifo)], capsys)
    assert err.endswith(
        f"{str(fifo)!r} is not a regular file. It is a named pipe (FIFO), which holds no model.\n"
    )
    assert str(fifo) not in opened
    err = refused_once(["info", "/dev/null"], capsys)
    assert err.endswith(
        "'/dev/null' is not a regular file. It is a character device, which holds no model.\n"
    )
