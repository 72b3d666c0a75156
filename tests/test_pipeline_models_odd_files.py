"""The ``models`` command on a version's file that is no model file: a link whose target is gone, a
folder. Each command names it as ``models list`` does."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import registry
from pipeline.cli import main


def _models(root: Path, *action: str) -> list[str]:
    return ["models", "--registry", str(root), *action]


def test_a_version_whose_link_target_is_gone_is_named_so_by_list_prune_show_and_promote(
    fitted, tmp_path: Path, capsys
) -> None:
    # Before: list and prune called it a failed read, to fix by checking "its owner and mode", while
    # show and promote said the registry had no such version.
    registry.publish(tmp_path, fitted, "v1")
    gone = tmp_path / "elsewhere" / "v3.dhag"
    (tmp_path / "v3.dhag").symlink_to(gone)
    link = f"Cannot read '{tmp_path / 'v3.dhag'}': it is a link to '{gone}', which does not exist"
    assert main(_models(tmp_path, "list")) == 0
    assert link in capsys.readouterr().out
    assert main(_models(tmp_path, "prune", "--dry-run")) == 0
    kept = capsys.readouterr().out.splitlines()[1]
    assert kept.startswith("kept v3, unreadable: its file is a link whose target does not exist")
    assert "owner and mode" not in kept and "restore its target" in kept and "remove the link" in kept
    assert main(_models(tmp_path, "show", "v3")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert link in shown["error"] and shown["fault"] == "io_error" and shown["version"] == "v3"
    assert main(_models(tmp_path, "promote", "v3")) == 2
    err = capsys.readouterr().err
    assert link in err and "has no version" not in err
    assert (tmp_path / "current").read_text().strip() == "v1"


def test_a_version_that_is_a_folder_is_named_so_by_list_show_and_promote(
    fitted, tmp_path: Path, capsys
) -> None:
    # Before: list called v4 UNREADABLE (damaged, not a regular file) and show and promote said there
    # was no version v4.
    registry.publish(tmp_path, fitted, "v1")
    (tmp_path / "v4.dhag").mkdir()
    said = f"Model artifact '{tmp_path / 'v4.dhag'}' is not a regular file."
    assert main(_models(tmp_path, "list")) == 0
    assert f"UNREADABLE: {said}" in capsys.readouterr().out
    assert main(_models(tmp_path, "show", "v4")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["error"] == f"{said} It is a folder, which holds no .dhag file."
    assert shown["fault"] == "damaged"
    assert main(_models(tmp_path, "promote", "v4")) == 2
    err = capsys.readouterr().err
    assert said in err and "has no version" not in err
    assert (tmp_path / "current").read_text().strip() == "v1"
    assert main(_models(tmp_path, "show", "v7")) == 2  # no file at all: still no such version
    assert "has no version 'v7'" in capsys.readouterr().err


def test_a_version_whose_link_target_is_gone_keeps_its_sample_and_report_through_a_prune(
    fitted, tmp_path: Path, capsys
) -> None:
    # Before: prune kept v2 (a link to a volume not mounted), saying to mount its volume, but removed
    # its reference sample and report as leftovers of a version that is gone: once the volume was back,
    # v2 loaded and retraining on it failed for want of its sample.
    sample = [("pump-1", 100.0, {"flow_a": 1.0})]
    registry.publish(tmp_path, fitted, "v1", reference=sample)
    registry.publish(tmp_path, fitted, "v2", reference=sample, make_current=False)
    (tmp_path / "v2.report.json").write_text("{}")
    volume = tmp_path / "volume"
    volume.mkdir()
    (tmp_path / "v2.dhag").rename(volume / "v2.dhag")
    (tmp_path / "v2.dhag").symlink_to(volume / "v2.dhag")
    unmounted = volume.rename(tmp_path / "unmounted")
    assert main(_models(tmp_path, "prune", "--keep", "1")) == 0
    assert "kept v2, unreadable: its file is a link" in capsys.readouterr().out
    assert (tmp_path / "v2.reference.json.gz").exists() and (tmp_path / "v2.report.json").exists()
    unmounted.rename(volume)  # the volume mounted again: v2 is whole
    assert registry.load_reference(tmp_path, "v2") == registry.load_reference(tmp_path, "v1")


def test_a_copy_filed_under_another_version_is_listed_unreadable_and_kept_by_prune(
    fitted, tmp_path: Path, capsys
) -> None:
    # Before: list showed v9 (a copy of v1's file) as a sound version and prune could remove it as one,
    # while promote, rollback and the daemon refuse it for recording version v1.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    (tmp_path / "v9.dhag").write_bytes((tmp_path / "v1.dhag").read_bytes())
    said = f"Cannot load model version 'v9': '{tmp_path / 'v9.dhag'}' records version 'v1'."
    assert main(_models(tmp_path, "list")) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " v9 " in line)
    assert f"UNREADABLE: {said}" in row
    assert main(_models(tmp_path, "show", "v9")) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["error"] == said and shown["fault"] == "damaged"
    assert main(_models(tmp_path, "promote", "v9")) == 2
    assert said in capsys.readouterr().err
    assert main(_models(tmp_path, "prune", "--keep", "1")) == 0
    assert "kept v9, unreadable: damaged" in capsys.readouterr().out
    assert (tmp_path / "v9.dhag").exists()
