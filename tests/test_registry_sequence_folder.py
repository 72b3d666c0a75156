"""A folder where the registry's publication count (``.sequence``) is written as a file (a bind mount of a
file that was not there makes one): an empty one is replaced by the count, recovered from the manifests;
one with files in it is refused before anything is published, naming it and what to do. Before, every
publication failed with 'Is a directory', after a warning that the count would be written again."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline import registry
from pipeline.cli import main


def test_an_empty_folder_in_place_of_the_count_is_replaced_by_it(
    fitted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    count = tmp_path / ".sequence"
    count.unlink()
    count.mkdir()
    with caplog.at_level(logging.WARNING):
        assert registry.publish(tmp_path, fitted, "v3") == "v3"
    assert registry.describe(tmp_path, "v3").sequence == 3
    assert count.read_text() == "3\n" and registry.current(tmp_path)[0] == "v3"
    assert "was an empty folder, not a file: removed" in caplog.text


def test_a_folder_with_files_in_place_of_the_count_is_refused_naming_it(
    fitted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    count = tmp_path / ".sequence"
    count.unlink()
    count.mkdir()
    (count / "kept").write_text("someone's file\n")
    with pytest.raises(registry.ModelUnavailableError) as caught:
        registry.publish(tmp_path, fitted, "v2")
    assert str(caught.value) == (
        f"the registry's publication count {str(count)!r} is a folder, not a file, and cannot be removed "
        "(Directory not empty): look at what it holds and remove it (the count is recovered from the "
        "versions' manifests); nothing was published"
    )
    assert not (tmp_path / "v2.dhag").exists() and registry.current(tmp_path)[0] == "v1"
    assert (count / "kept").exists()
    capsys.readouterr()
    assert main(["models", "--registry", str(tmp_path), "train", "history.csv"]) == 2
    assert capsys.readouterr().err.startswith(
        f"models train: refused: the registry's publication count {str(count)!r} is a folder"
    )
