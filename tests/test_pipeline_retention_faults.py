"""Versions that cannot be read (damaged, a newer release's, signed with another key): prune keeps them
and says which and why, and ``models prune`` (and its dry run) prints them, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

import dhag.artifact
from pipeline import registry
from pipeline.cli import main
from pipeline.retention import prune, survey

STATES = ("readable", "newer_release", "bad_signature", "damaged", "io_error")


def _faulty(fitted, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """v1 (in the history) and v2 truncated, v3 a newer release's, v4 signed with another key; v5 and
    v6 readable candidates; v7 current. Everything signed with the deployment's key "k1"."""
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "k1")
    registry.publish(root, fitted, "v1")
    for n in range(2, 7):
        registry.publish(root, fitted, f"v{n}", make_current=False)
    registry.publish(root, fitted, "v7")
    for version in ("v1", "v2"):
        data = (root / f"{version}.dhag").read_bytes()
        (root / f"{version}.dhag").write_bytes(data[: len(data) // 2])
    manifest, tensors, _ = dhag.artifact._read(root / "v3.dhag")
    manifest["settings"] |= {"attention_heads": 4}
    dhag.artifact.write_artifact(root / "v3.dhag", manifest, tensors)
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "another key")
    dhag.artifact.sign_artifact(root / "v4.dhag")
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "k1")


def test_prune_says_which_unreadable_versions_it_kept_and_counts_the_registry_by_state(
    fitted, tmp_path, monkeypatch
) -> None:
    _faulty(fitted, tmp_path, monkeypatch)
    kept = [("v1", "damaged"), ("v2", "damaged"), ("v3", "newer_release"), ("v4", "bad_signature")]
    dry = prune(tmp_path, keep=1, dry_run=True)
    assert dry.removed == ["v5", "v6"] and [(k.version, k.fault) for k in dry.kept_unreadable] == kept
    assert [k.role for k in dry.kept_unreadable] == ["history", None, None, None]
    assert dry.versions == dict.fromkeys(STATES, 1) | {"readable": 3, "damaged": 2, "io_error": 0}
    done = prune(tmp_path, keep=1)
    assert done.removed == ["v5", "v6"] and [(k.version, k.fault) for k in done.kept_unreadable] == kept
    # What is left once they went: the listing prune made, less what it removed (no second read).
    assert done.versions == dict.fromkeys(STATES, 1) | {"damaged": 2, "io_error": 0}
    assert sorted(p.stem for p in tmp_path.glob("*.dhag")) == ["v1", "v2", "v3", "v4", "v7"]
    assert survey(tmp_path) == done.versions
    assert survey(tmp_path / "absent") == dict.fromkeys(STATES, 0)


def test_models_prune_prints_each_unreadable_version_it_kept_and_why(
    fitted, tmp_path, monkeypatch, capsys
) -> None:
    _faulty(fitted, tmp_path, monkeypatch)
    base = ["models", "--registry", str(tmp_path), "prune", "--keep", "1"]
    for args, verb in (([*base, "--dry-run"], "would remove"), (base, "removed")):
        assert main(args) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == f"{verb} 2 version(s): v5, v6"
        assert len(lines) == 5 and all(line.startswith("kept v") for line in lines[1:])
        v1, v2, v3, v4 = lines[1:]
        assert v1.startswith("kept v1, unreadable, in the rollback history: damaged")
        assert v2.startswith("kept v2, unreadable: damaged") and "remove it by hand" in v2
        assert v3.startswith("kept v3, unreadable: written by a newer release of dhag")
        assert "remove" not in v3  # it is that release's to prune
        assert v4.startswith("kept v4, unreadable: not signed with this deployment's key")
        assert "dhag sign" in v4


def test_a_registry_with_nothing_unreadable_prints_only_what_it_removed(fitted, tmp_path, capsys) -> None:
    registry.publish(tmp_path, fitted, "v1")
    assert main(["models", "--registry", str(tmp_path), "prune", "--keep", "1"]) == 0
    assert capsys.readouterr().out == "removed 0 version(s)\n"


def test_an_unreadable_current_version_is_kept_with_advice_to_promote_another_first(fitted, tmp_path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    (tmp_path / "v2.dhag").write_bytes(b"cut")
    pruned = prune(tmp_path, keep=1)
    assert pruned.removed == [] and [tuple(k) for k in pruned.kept_unreadable] == [
        ("v2", "damaged", "current", None)
    ]
    line = pruned.kept_unreadable[0].line()
    assert line.startswith("kept v2, unreadable, current: damaged") and "promote a readable version" in line
    assert sorted(p.stem for p in tmp_path.glob("*.dhag")) == ["v1", "v2"]  # v1 is in the history
