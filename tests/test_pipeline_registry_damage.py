"""A registry whose ``current`` pointer or ``history`` was damaged on disk (a crash, a bad restore, an
edit by hand): an operator's promote repairs the pointer, the retrainer never promotes over it, and
every refusal names the file and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import LockFileError, ModelUnavailableError
from pipeline.registry import current, history, list_models, promote, publish, rollback

DAMAGE = {
    "not text": lambda p: p.write_bytes(b"\xff\xfe v1"),
    "a folder": lambda p: (p.unlink(), p.mkdir()),
    "garbage": lambda p: p.write_text("v1\x00\x17#garbage of a torn write\n"),
}


@pytest.fixture
def registry(fitted, tmp_path: Path) -> Path:
    publish(tmp_path, fitted, "v1")
    publish(tmp_path, fitted, "v2", make_current=False)
    return tmp_path


@pytest.mark.parametrize("damage", DAMAGE)
def test_promote_by_hand_repairs_a_damaged_pointer(registry: Path, damage: str, caplog) -> None:
    DAMAGE[damage](registry / "current")
    # Before: refused ("is not text: rewrite it", or an IsADirectoryError), or, for the garbage, the
    # garbage joined the history, where every later rollback stopped at it.
    if damage == "a folder":  # no rename replaces a folder: the refusal says what is in the way
        with pytest.raises(ModelUnavailableError, match=r"current' is not a file: remove it"):
            promote(registry, "v2")
        (registry / "current").rmdir()
    assert promote(registry, "v2") is None
    if damage != "a folder":
        assert "replacing it with 'v2'" in caplog.text
    assert current(registry)[0] == "v2"
    assert history(registry) == []  # nothing that is no version is kept as a rollback target
    with pytest.raises(ModelUnavailableError, match="Nothing to roll back to"):
        rollback(registry)


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_retrainer_never_promotes_over_a_damaged_pointer(registry: Path, damage: str) -> None:
    DAMAGE[damage](registry / "current")
    before = sorted((p.name, p.is_dir()) for p in registry.iterdir())
    with pytest.raises(ModelUnavailableError, match="current"):
        promote(registry, "v2", only_over="v1")
    assert sorted((p.name, p.is_dir()) for p in registry.iterdir()) == before


@pytest.mark.parametrize("damage", DAMAGE)
def test_models_are_listed_beside_a_damaged_pointer(registry: Path, damage: str) -> None:
    DAMAGE[damage](registry / "current")
    # Before: a folder (or an unreadable file) in its place made the listing raise IsADirectoryError.
    assert [(i.version, i.is_current) for i in list_models(registry)] == [("v1", False), ("v2", False)]
    with pytest.raises(ModelUnavailableError, match="current"):
        current(registry)


def test_a_damaged_history_is_refused_saying_what_to_do(registry: Path) -> None:
    (registry / "history").write_text('["v0", "v')  # a torn write
    with pytest.raises(ModelUnavailableError, match="move it aside") as info:
        promote(registry, "v2")
    assert str(registry / "history") in str(info.value)
    assert current(registry)[0] == "v1"
    (registry / "history").write_text(json.dumps(["v1", {"v": 2}]))
    with pytest.raises(ModelUnavailableError, match="not a list of versions.*move it aside"):
        rollback(registry)


def test_an_artifact_that_is_a_folder_is_not_said_to_be_missing(registry: Path) -> None:
    (registry / "v3.dhag").mkdir()
    (registry / "current").write_text("v3\n")
    with pytest.raises(ModelUnavailableError, match=r"v3.dhag' is not a file"):
        current(registry)
    # Named as models list names it (a damaged version), not as no version at all.
    with pytest.raises(ModelUnavailableError, match=r"v3.dhag' is not a regular file"):
        promote(registry, "v3")


def test_a_lock_file_planted_as_a_symbolic_link_is_refused_not_followed(
    registry: Path, tmp_path_factory
) -> None:
    # Before: the lock was opened for appending through any link at its name, creating the file it named:
    # whoever could write the registry folder made the retrainer or an operator's command create files
    # wherever they could write.
    victim = tmp_path_factory.mktemp("elsewhere") / "created-by-the-registry"
    (registry / ".lock").unlink()
    (registry / ".lock").symlink_to(victim)
    with pytest.raises(LockFileError, match=r"\.lock, the lock file of .* is a symbolic link"):
        promote(registry, "v2")
    assert not victim.exists()
    assert current(registry)[0] == "v1"


@pytest.mark.parametrize("damage", DAMAGE)
def test_publishing_a_new_current_version_repairs_a_damaged_pointer_as_promote_does(
    registry: Path, fitted, damage: str, caplog
) -> None:
    # Before: 'models train' trained for its whole budget, then was refused ("'models promote VERSION'
    # rewrites it") and withdrew the version it had trained, leaving nothing to promote.
    DAMAGE[damage](registry / "current")
    if damage == "a folder":  # no rename replaces it: refused, and no version left behind
        with pytest.raises(ModelUnavailableError, match=r"current' is not a file: remove it"):
            publish(registry, fitted, "v3")
        assert not (registry / "v3.dhag").exists()
        return
    assert publish(registry, fitted, "v3") == "v3"
    assert "replacing it with 'v3'" in caplog.text
    assert current(registry)[0] == "v3" and history(registry) == []


def test_models_train_over_a_pointer_no_switch_replaces_is_refused_before_training(
    registry: Path, capsys, monkeypatch
) -> None:
    from pipeline.cli import main

    DAMAGE["a folder"](registry / "current")
    monkeypatch.setattr("pipeline.historyfile.read_history", lambda path: pytest.fail("trained anyway"))
    assert main(["models", "--registry", str(registry), "train", "h.csv"]) == 2
    assert "current' is not a file: remove it" in capsys.readouterr().err
    # Published without a switch, it needs no pointer.
    monkeypatch.setattr("pipeline.historyfile.read_history", lambda path: pytest.fail("read"))
    with pytest.raises(pytest.fail.Exception, match="read"):
        main(["models", "--registry", str(registry), "train", "h.csv", "--no-promote"])


def test_models_train_over_a_damaged_history_is_refused_before_training(
    registry: Path, capsys, monkeypatch
) -> None:
    # Before: it trained for its whole budget, then was refused as the switch read the history.
    from pipeline.cli import main

    (registry / "history").write_text('["v0", ')
    monkeypatch.setattr("pipeline.historyfile.read_history", lambda path: pytest.fail("trained anyway"))
    assert main(["models", "--registry", str(registry), "train", "h.csv"]) == 2
    assert "Cannot read the registry history" in capsys.readouterr().err
