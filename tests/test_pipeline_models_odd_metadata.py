"""The ``models`` console on a registry holding versions saved into it by hand, whose metadata is not what
``publish`` writes (a creation time or parent that is a number, null or a list; metadata that is no
object), and files that are no model: every version is listed with what it has, none stops the console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from artifact_support import save_with_metadata

from pipeline import registry
from pipeline.cli import main

_ODD = {
    "v0": {"created": 20261101, "parent": None},
    "v2": {"created": ["2026-11-02"], "parent": 7, "validation": {"f1": None, "n": [1, 2]}},
    "v3": ["not", "an", "object"],
    "v4": "a note",
}


@pytest.fixture
def odd(fitted, tmp_path: Path) -> Path:
    registry.publish(tmp_path, fitted, "v1")
    for version, metadata in _ODD.items():
        save_with_metadata(fitted, tmp_path / f"{version}.dhag", metadata)
    (tmp_path / "v9.dhag").write_text("a file that is no model\n")
    return tmp_path


def _models(root: Path, *argv: str) -> int:
    return main(["models", "--registry", str(root), *argv])


def test_list_shows_every_version_with_the_metadata_it_has(odd: Path, fitted, capsys) -> None:
    assert _models(odd, "list") == 0
    header, *rows = capsys.readouterr().out.splitlines()
    by_version = {row.lstrip("* ").split()[0]: row for row in rows}
    assert sorted(by_version) == ["v0", "v1", "v2", "v3", "v4", "v9"]
    assert "20261101" in by_version["v0"] and '["2026-11-02"]' in by_version["v2"]
    assert " 7 " in by_version["v2"] and "n=[1, 2]" in by_version["v2"]
    assert "UNREADABLE" in by_version["v9"] and rows[-1] == by_version["v9"]
    for version in ("v0", "v1", "v2", "v3", "v4"):  # each threshold under THRESHOLD
        assert by_version[version].index(f"{fitted.threshold_:.4f}") == header.index("THRESHOLD")


def test_list_models_gives_odd_creation_times_as_text(odd: Path) -> None:
    infos = registry.list_models(odd)
    assert [i.version for i in infos][-1] == "v9" and infos[-1].error
    assert all(i.created is None or isinstance(i.created, str) for i in infos)
    assert all(i.parent is None or isinstance(i.parent, str) for i in infos)


@pytest.mark.parametrize("version", ["v0", "v2", "v3", "v4"])
def test_show_and_promote_and_rollback_take_a_version_with_odd_metadata(
    odd: Path, version: str, capsys
) -> None:
    assert _models(odd, "show", version) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == version and shown["error"] is None
    assert _models(odd, "promote", version) == 0
    assert capsys.readouterr().out == f"{version} is current (was v1)\n"
    assert _models(odd, "promote", "v1") == 0 and _models(odd, "rollback") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{version} is current again (was v1)"


def test_show_of_a_file_that_is_no_model_says_why(odd: Path, capsys) -> None:
    assert _models(odd, "show", "v9") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["error"] and shown["fault"] == "damaged"


def test_list_keeps_each_version_on_its_line_whatever_its_metadata_holds(
    fitted, tmp_path: Path, capsys
) -> None:
    # A line break in a creation time split its row in two; a terminal's escape sequence in a parent
    # (here: clear the screen) was written to the terminal as it was.
    registry.publish(tmp_path, fitted, "v1")
    metadata = {"created": "2026-11-01\n", "parent": "\x1b[2Jv1", "validation": {"f1\r": 0.5}}
    fitted.save(tmp_path / "v0.dhag", metadata=metadata)
    assert _models(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 3 and "\x1b" not in out and "\r" not in out
    row = next(line for line in out.splitlines() if "v0" in line)
    assert "2026-11-01\\n" in row and "\\x1b[2Jv1" in row and "f1\\r=0.5" in row


def test_list_names_a_model_file_whose_name_is_no_version(fitted, tmp_path: Path, capsys) -> None:
    # A copy made by hand ('v1 copy.dhag') was left out of the listing without a word: it is no version
    # the daemon, promote or prune will ever see.
    registry.publish(tmp_path, fitted, "v1")
    fitted.save(tmp_path / "v1 copy.dhag")
    (tmp_path / "notes.txt").write_text("not a model file\n")
    assert _models(tmp_path, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == (
        "not a version: 'v1 copy.dhag' (a version's name is 1-100 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit): rename it to list, promote or prune it"
    )
    assert len(lines) == 3 and "notes.txt" not in "\n".join(lines)


def test_a_version_saved_by_hand_with_an_odd_creation_time_is_as_old_as_its_file(fitted, tmp_path) -> None:
    # Sorted as text, "20261101", '["x"]' or "yesterday" came after every ISO time publish writes: the
    # hand-saved version counted as the newest, and a prune removed the real one in its place.
    import os
    import time

    from pipeline import retention

    for version in ("v1", "v2"):
        registry.publish(tmp_path, fitted, version)
    registry.promote(tmp_path, "v1")
    for version, created in (("v0", 20261101), ("v00", "yesterday"), ("v000", ["x"]), ("v0000", None)):
        fitted.save(tmp_path / f"{version}.dhag", metadata={"created": created})
        os.utime(tmp_path / f"{version}.dhag", (time.time() - 86400, time.time() - 86400))
    order = [i.version for i in registry.list_models(tmp_path)]
    assert order[-2:] == ["v1", "v2"]
    assert retention.prune(tmp_path, keep=2).removed == sorted(["v0", "v00", "v000", "v0000"])
    assert sorted(i.version for i in registry.list_models(tmp_path)) == ["v1", "v2"]
