"""Registry retention: old versions go, the current one, the rollback history, the newest ones and any
unreadable artifact stay; ``models prune`` and the retrainer's run both apply it."""

from __future__ import annotations

from pathlib import Path

import pytest

import dhag.artifact
from pipeline import registry
from pipeline.cli import main
from pipeline.errors import ModelUnavailableError
from pipeline.retention import prune

SAMPLE = [("pump-1", 100.0, {"flow_a": 1.0})]


def _registry(fitted, root: Path) -> None:
    """v01 promoted over by v08; v02-v07 rejected candidates (v03 unreadable), each with a sample."""
    registry.publish(root, fitted, "v01", reference=SAMPLE)
    for n in range(2, 8):
        registry.publish(root, fitted, f"v{n:02d}", reference=SAMPLE, make_current=False)
    registry.publish(root, fitted, "v08", reference=SAMPLE, make_current=False)
    registry.promote(root, "v08")
    data = bytearray((root / "v03.dhag").read_bytes())
    data[-10] ^= 0xFF
    (root / "v03.dhag").write_bytes(bytes(data))
    (root / "v02.report.json").write_text("{}")


def _versions(root: Path) -> list[str]:
    return sorted(p.name.removesuffix(".dhag") for p in root.glob("*.dhag"))


def test_prune_keeps_the_newest_the_current_the_history_and_what_it_cannot_read(fitted, tmp_path) -> None:
    _registry(fitted, tmp_path)
    assert prune(tmp_path, keep=2, dry_run=True).removed == ["v02", "v04", "v05", "v06"]
    assert len(_versions(tmp_path)) == 8  # a dry run removes nothing
    assert prune(tmp_path, keep=2).removed == ["v02", "v04", "v05", "v06"]
    assert _versions(tmp_path) == ["v01", "v03", "v07", "v08"]
    samples = sorted(p.name.split(".")[0] for p in tmp_path.glob("*.reference.json.gz"))
    assert samples == ["v01", "v03", "v07", "v08"]
    assert not (tmp_path / "v02.report.json").exists()  # the run's report goes with its version
    assert registry.current(tmp_path)[0] == "v08"
    assert registry.rollback(tmp_path) == ("v08", "v01")  # the rollback target survived
    assert prune(tmp_path, keep=2).removed == []  # nothing more to remove
    with pytest.raises(ValueError, match="keep must be at least 1"):
        prune(tmp_path, keep=0)


def test_prune_keeps_a_version_naming_a_setting_this_release_does_not_know(fitted, tmp_path) -> None:
    # A later release's model (a setting this one does not know): this release cannot read it as a
    # model, so it leaves it to the release that can.
    _registry(fitted, tmp_path)
    manifest, tensors, _ = dhag.artifact._read(tmp_path / "v04.dhag")
    manifest["settings"] |= {"attention_heads": 4}
    dhag.artifact.write_artifact(tmp_path / "v04.dhag", manifest, tensors)
    assert prune(tmp_path, keep=2).removed == ["v02", "v05", "v06"]
    assert _versions(tmp_path) == ["v01", "v03", "v04", "v07", "v08"]


def test_prune_removes_the_leftovers_of_interrupted_writes(fitted, tmp_path) -> None:
    import os
    import time

    registry.publish(tmp_path, fitted, "v1", reference=SAMPLE)
    # A publication killed between its sample and its artifact, and atomic writes killed mid-way.
    (tmp_path / "v2.reference.json.gz").write_bytes((tmp_path / "v1.reference.json.gz").read_bytes())
    # A removal killed between a version's artifact and its report (or an artifact removed by hand):
    # the report stayed for good, one more file with every interruption.
    (tmp_path / "v1.report.json").write_text("{}")
    (tmp_path / "v0.report.json").write_text("{}")
    old_temp = tmp_path / ".v3.dhag.abc123.tmp"
    old_temp.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    os.utime(old_temp, (hour_ago, hour_ago))
    fresh_temp = tmp_path / ".v3.report.json.def456.tmp"  # a report being written right now
    fresh_temp.write_bytes(b"{")
    assert prune(tmp_path, keep=1, dry_run=True).removed == []
    assert (tmp_path / "v2.reference.json.gz").exists()  # a dry run removes nothing
    assert prune(tmp_path, keep=1).removed == []  # no version went; the leftovers did
    assert not (tmp_path / "v2.reference.json.gz").exists()
    assert not (tmp_path / "v0.report.json").exists()
    assert (tmp_path / "v1.report.json").exists()  # the report of a version still there stays
    assert not old_temp.exists()
    assert fresh_temp.exists()
    assert (tmp_path / "v1.reference.json.gz").exists()
    assert registry.load_reference(tmp_path, "v1")  # the served version keeps its sample


def test_a_version_named_to_keep_stays_whatever_its_date(fitted, tmp_path) -> None:
    # A clock stepped back dates a new candidate before the older ones; the retrainer names it.
    _registry(fitted, tmp_path)
    assert "v02" not in prune(tmp_path, keep=1, also_keep={"v02"}, dry_run=True).removed
    assert "v02" in prune(tmp_path, keep=1, dry_run=True).removed


def test_promoting_a_version_removed_since_it_was_loaded_is_refused(fitted, tmp_path, monkeypatch) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    loaded = registry.load_version

    def load_then_lose(root, version, **kwargs):
        model = loaded(root, version, **kwargs)
        if version == "v2":  # a prune between the check and the switch
            (Path(root) / f"{version}.dhag").unlink()
        return model

    monkeypatch.setattr(registry, "load_version", load_then_lose)
    with pytest.raises(ModelUnavailableError, match="has no version 'v2'"):
        registry.promote(tmp_path, "v2")
    assert registry.current(tmp_path)[0] == "v1"


def test_models_prune_command(fitted, tmp_path, capsys) -> None:
    _registry(fitted, tmp_path)
    base = ["models", "--registry", str(tmp_path), "prune"]
    kept = (
        "kept v03, unreadable: damaged (truncated, failing its checksum, not a regular file); "
        "see 'models list', then remove it by hand\n"
    )
    assert main([*base, "--keep", "3", "--dry-run"]) == 0
    assert capsys.readouterr().out == "would remove 3 version(s): v02, v04, v05\n" + kept
    assert main([*base, "--keep", "0"]) == 2
    assert "--keep must be at least 1" in capsys.readouterr().err
    assert main(base) == 0  # the default, retrain.keep_versions (50), keeps all eight
    assert capsys.readouterr().out == "removed 0 version(s)\n" + kept
    assert main([*base, "--keep", "3"]) == 0
    assert _versions(tmp_path) == ["v01", "v03", "v06", "v07", "v08"]
