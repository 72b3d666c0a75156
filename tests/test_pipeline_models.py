"""The model registry's versions, metadata, promote / rollback, and the ``models`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

import dhag.artifact
from pipeline import lockfile, registry, registrypointer
from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.errors import ConfigError, ModelUnavailableError
from pipeline.textwidth import display_width

REPO = Path(__file__).resolve().parents[1]


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def _pointer(root: Path) -> str:
    return (root / "current").read_text().strip()


def test_versions_carry_their_metadata_and_list_marks_the_current_one(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(
        tmp_path,
        fitted,
        "v2",
        training_window={"start": "2026-11-01T00:00:00Z", "end": "2026-11-28T00:00:00Z"},
        label_counts={"anomaly": 4, "normal": 17},
        validation={"f1": 0.91, "auroc": 0.97},
    )
    infos = registry.list_models(tmp_path)
    assert [(i.version, i.is_current) for i in infos] == [("v1", False), ("v2", True)]
    v1, v2 = infos
    assert v1.parent is None and v2.parent == "v1"
    assert v2.label_counts == {"anomaly": 4, "normal": 17} and v2.validation == {"f1": 0.91, "auroc": 0.97}
    assert v2.training_window["end"] == "2026-11-28T00:00:00Z"
    assert v2.created and v2.created.endswith("Z") and v2.threshold == pytest.approx(fitted.threshold_)
    assert registry.describe(tmp_path, "v2") == v2
    assert registry.history(tmp_path) == ["v1"]
    with pytest.raises(ModelUnavailableError, match="no version 'v9'"):
        registry.describe(tmp_path, "v9")


def test_promote_and_rollback_walk_the_history_and_refuse_when_it_is_empty(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    assert _pointer(tmp_path) == "v2"
    assert registry.promote(tmp_path, "v3") == "v2"
    assert (_pointer(tmp_path), registry.history(tmp_path)) == ("v3", ["v1", "v2"])
    assert registry.rollback(tmp_path) == ("v3", "v2")
    assert registry.rollback(tmp_path) == ("v2", "v1")
    assert (_pointer(tmp_path), registry.history(tmp_path)) == ("v1", [])
    with pytest.raises(ModelUnavailableError, match="Nothing to roll back to"):
        registry.rollback(tmp_path)
    assert _pointer(tmp_path) == "v1"
    assert not list(tmp_path.glob(".*.tmp"))


def test_promote_refuses_a_corrupt_or_misfiled_artifact_and_changes_nothing(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    _corrupt(tmp_path / "v2.dhag")
    with pytest.raises(ModelUnavailableError, match="Cannot load model version 'v2'.*checksum"):
        registry.promote(tmp_path, "v2")
    (tmp_path / "v3.dhag").write_bytes((tmp_path / "v1.dhag").read_bytes())
    with pytest.raises(ModelUnavailableError, match="records version 'v1'"):
        registry.promote(tmp_path, "v3")
    with pytest.raises(ModelUnavailableError, match="no version 'v4'"):
        registry.promote(tmp_path, "v4")
    assert (_pointer(tmp_path), registry.history(tmp_path)) == ("v1", [])
    assert [i.version for i in registry.list_models(tmp_path) if i.error] == ["v2", "v3"]


def test_a_failed_switch_leaves_the_old_pointer_whole(fitted, tmp_path: Path, monkeypatch) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)  # the atomic writer renames through os.replace
    with pytest.raises(OSError, match="No space"):
        registry.promote(tmp_path, "v2")
    monkeypatch.undo()
    assert _pointer(tmp_path) == "v1" and registry.history(tmp_path) == []
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("fails", ["current", "history"])
def test_a_rollback_cut_short_at_either_write_loses_no_version(
    fitted, tmp_path: Path, monkeypatch, fails: str
) -> None:
    # Before, history was written first: cut short before current, the rollback target had left the
    # history while current stayed, so a retry went two versions back and v2 lost its prune protection.
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, fitted, version)
    real = registry.write_atomic

    def cut_short(path: Path, data: bytes) -> Path:
        if path.name == fails:
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(registry, "write_atomic", cut_short)  # the history a rollback shortens
    monkeypatch.setattr(registrypointer, "write_atomic", cut_short)  # the pointer it switches
    if fails == "current":  # nothing changed: the retry does the whole rollback
        with pytest.raises(OSError, match="No space"):
            registry.rollback(tmp_path)
        monkeypatch.undo()
        assert registry.rollback(tmp_path) == ("v3", "v2")
    else:  # current moved: the rollback is done (a warning says the history was not shortened)
        assert registry.rollback(tmp_path) == ("v3", "v2")
        monkeypatch.undo()
        assert _pointer(tmp_path) == "v2"
    assert registry.rollback(tmp_path) == ("v2", "v1")
    assert registry.history(tmp_path) == []


def test_readers_never_see_a_partial_pointer_while_versions_switch(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    seen: set[str] = set()
    errors: list[Exception] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                seen.add(registry.current(tmp_path)[0])
            except ModelUnavailableError as exc:
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            registry.promote(tmp_path, "v1" if i % 2 else "v2")
    finally:
        done.set()
        reader.join(timeout=10)
    assert not errors and seen <= {"v1", "v2"} and seen


def test_models_command_prints_and_switches_and_refuses_with_exit_code_2(
    fitted, tmp_path: Path, capsys
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", validation={"f1": 0.5}, make_current=False)
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    _corrupt(tmp_path / "v3.dhag")
    base = ["models", "--registry", str(tmp_path)]

    assert main([*base, "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["VERSION", "CREATED", "PARENT", "THRESHOLD", "SAMPLE", "GATE", "VALIDATION"]
    assert listing[1].startswith("*") and listing[1].split()[1] == "v1"
    assert "f1=0.5" in listing[2] and "UNREADABLE" in listing[3]

    assert main([*base, "show", "v2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["parent"], shown["is_current"]) == ("v2", "v1", False)

    assert main([*base, "promote", "v3"]) == 2
    err = capsys.readouterr().err
    assert "models promote: refused" in err and "'v3'" in err
    assert main([*base, "show", "nope"]) == 2
    assert main([*base, "promote", "v2"]) == 0
    assert _pointer(tmp_path) == "v2"
    assert main([*base, "rollback"]) == 0
    assert _pointer(tmp_path) == "v1"
    assert main([*base, "rollback"]) == 2
    assert "Nothing to roll back to" in capsys.readouterr().err


def test_models_options_may_follow_the_action(fitted, tmp_path: Path, capsys) -> None:
    # `models list --config FILE`, as an operator types it: the options are the same after the action as
    # before it, and one given before it is not undone by the action's.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    config = tmp_path / "settings.yaml"
    config.write_text(f"model:\n  registry: {tmp_path}\n")
    assert main(["models", "list", "--config", str(config)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["*", "v2"]
    assert main(["models", "promote", "v2", "--registry", str(tmp_path)]) == 0
    assert _pointer(tmp_path) == "v2"
    assert main(["models", "--config", str(config), "rollback"]) == 0
    assert _pointer(tmp_path) == "v1"
    capsys.readouterr()
    # Both given: the one after the action is the one it acts on.
    other = tmp_path / "empty"
    other.mkdir()
    assert main(["models", "--registry", str(other), "show", "v2", "--registry", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == "v2"


def test_models_list_says_first_when_current_names_no_usable_version(fitted, tmp_path: Path, capsys) -> None:
    registry.publish(tmp_path, fitted, "v1")
    (tmp_path / "current").write_text("v9\n")  # a version removed by hand, or a pointer restored from backup
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    first, header, row = capsys.readouterr().out.splitlines()
    assert first.startswith("current: NONE USABLE:") and "v9" in first
    assert header.split()[0] == "VERSION" and row.split()[0] == "v1"  # no version is marked current


def test_models_list_says_first_when_current_names_a_version_the_daemon_refuses(
    fitted, tmp_path: Path, capsys
) -> None:
    # The runbook's first check: a restarted daemon exits on such a current version, so the listing
    # must say so on top, as it does for a missing one.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    _corrupt(tmp_path / "v2.dhag")
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("current: NONE USABLE:") and "v2" in first and "checksum" in first
    # A copy filed under another name reads well, but the daemon refuses it (it records 'v1').
    (tmp_path / "v3.dhag").write_bytes((tmp_path / "v1.dhag").read_bytes())
    registry.promote(tmp_path, "v1")
    (tmp_path / "current").write_text("v3\n")
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("current: NONE USABLE:") and "records version 'v1'" in first
    registry.promote(tmp_path, "v1")
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    assert not capsys.readouterr().out.startswith("current:")


def test_a_switch_on_a_registry_it_cannot_write_is_refused_with_exit_code_2(
    fitted, tmp_path: Path, capsys, monkeypatch
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")

    def read_only(path: Path) -> None:
        raise OSError(30, "Read-only file system")  # a daemon pod mounts the registry read-only

    monkeypatch.setattr(lockfile, "open_lock", read_only)
    assert main(["models", "--registry", str(tmp_path), "rollback"]) == 2
    err = capsys.readouterr().err
    assert "models rollback: refused: cannot write to the registry" in err and "toolbox" in err
    monkeypatch.undo()
    assert _pointer(tmp_path) == "v2"

    # Any other refusal is said as the system said it, not blamed on a read-only mount.
    def full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lockfile, "open_lock", full)
    assert main(["models", "--registry", str(tmp_path), "rollback"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "cannot write" not in err


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_train_seed_out_of_range_is_named_before_the_history_is_read(
    tmp_path: Path, capsys, monkeypatch, seed
) -> None:
    # Refused after the history was read and its notes written, naming DHAG's 'random_state'.
    monkeypatch.setattr("pipeline.historyfile.read_history", lambda path: pytest.fail("read it anyway"))
    assert main(["models", "--registry", str(tmp_path), "train", "h.csv", "--seed", seed]) == 2
    said = f"models train: refused: --seed must be an integer from 0 to 4294967295, got {seed}\n"
    assert capsys.readouterr().err == said


def test_python_m_pipeline_models_promote_exits_2_for_a_bad_artifact(fitted, tmp_path: Path) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    _corrupt(tmp_path / "v2.dhag")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAG_PIPELINE_")}
    env["DHAG_PIPELINE_MODEL__REGISTRY"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "models", "promote", "v2"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Cannot load model version 'v2'" in result.stderr
    assert _pointer(tmp_path) == "v1"


def test_reload_check_interval_is_validated() -> None:
    assert load_settings(None, {}).model.reload_check_s == 2.0
    with pytest.raises(ConfigError, match="model.reload_check_s"):
        load_settings(None, {"DHAG_PIPELINE_MODEL__RELOAD_CHECK_S": "0"})


def test_models_train_fills_an_empty_registry_from_a_history_file(tmp_path: Path, capsys) -> None:
    # Before, only Python (train_plant_model, then publish) turned a history into the first model.
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    base = ["models", "--registry", str(tmp_path / "registry")]
    assert main([*base, "train", str(history), "--time-budget", "5", "--version", "v1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("v1 is current: trained on")
    version, model = registry.load_current(tmp_path / "registry")
    assert version == "v1" and len(registry.load_reference(tmp_path / "registry", "v1")) == 720
    assert model.metadata_["fleet"] == {"history": str(history)}
    times = pd.read_csv(history)["t"]  # the span of the history it trained on, as a run's window is
    window = registry.describe(tmp_path / "registry", "v1").training_window
    assert window == {"start": times.min(), "end": times.max()}
    assert registry.describe(tmp_path / "registry", "v1").parent is None
    # A model trained from a history learned nothing from the version current then: none is its parent.
    assert main([*base, "train", str(history), "--time-budget", "2", "--version", "v2", "--no-promote"]) == 0
    assert registry.describe(tmp_path / "registry", "v2").parent is None
    assert main([*base, "train", str(history), "--version", "v1"]) == 2  # a version is never replaced
    assert "already exists" in capsys.readouterr().err
    pd.read_csv(history).drop(columns="flow_m3h").to_csv(tmp_path / "bad.csv", index=False)
    assert main([*base, "train", str(tmp_path / "bad.csv")]) == 2
    assert "lacks the column(s) flow_m3h" in capsys.readouterr().err


def test_a_missing_registry_and_a_taken_or_bad_version_are_refused_before_any_work(
    fitted, tmp_path: Path, capsys, monkeypatch
) -> None:
    # `models list` on a misspelt registry said "no models" and exited 0; `models train --version`
    # trained for up to the whole time budget before it refused a taken or invalid name.
    assert main(["models", "--registry", str(tmp_path / "nope"), "list"]) == 2
    assert "there is no registry folder" in capsys.readouterr().err
    registry.publish(tmp_path, fitted, "v1")
    monkeypatch.setattr("pipeline.historyfile.read_history", lambda path: pytest.fail("trained anyway"))
    for version, message in (("v1", "already exists"), ("../x", "A model version must be")):
        assert main(["models", "--registry", str(tmp_path), "train", "h.csv", "--version", version]) == 2
        assert message in capsys.readouterr().err


def test_promoting_the_current_version_says_it_already_was_and_keeps_the_history(
    fitted, tmp_path: Path, capsys
) -> None:
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2")
    base = ["models", "--registry", str(tmp_path)]
    capsys.readouterr()
    assert main([*base, "promote", "v2"]) == 0
    assert capsys.readouterr().out == "v2 is already current: nothing changed\n"
    assert registry.history(tmp_path) == ["v1"]
    assert main([*base, "promote", "v1"]) == 0
    assert capsys.readouterr().out == "v1 is current (was v2)\n"


def test_list_marks_a_version_whose_settings_this_release_does_not_know(fitted, tmp_path: Path) -> None:
    # A version a later release wrote with a setting this one does not know: load_model refuses it, and
    # models list says so with the same reason, before a rollback points current at it.
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, fitted, "v2", make_current=False)
    path = tmp_path / "v2.dhag"
    manifest, tensors, _ = dhag.artifact._read(path)
    manifest["settings"] |= {"attention_heads": 4}
    dhag.artifact.write_artifact(path, manifest, tensors)
    with pytest.raises(dhag.ArtifactError) as refused:
        dhag.load_model(path)
    infos = {info.version: info for info in registry.list_models(tmp_path)}
    assert infos["v1"].error is None
    assert infos["v2"].error == str(refused.value) and "'attention_heads'" in infos["v2"].error
    assert registry.describe(tmp_path, "v2").error == str(refused.value)
    with pytest.raises(ModelUnavailableError, match="settings this version does not know"):
        registry.promote(tmp_path, "v2")


def test_models_list_aligns_its_columns_by_the_terminal_columns_text_takes(
    fitted, tmp_path: Path, capsys
) -> None:
    # A model saved by hand into the registry keeps the metadata it was saved with: a creation date and
    # a parent written in Japanese take two terminal columns a character, and pushed the later columns out.
    registry.publish(tmp_path, fitted, "v1")
    fitted.save(tmp_path / "v0.dhag", metadata={"created": "2026年11月01日", "parent": "山田の版"})
    assert main(["models", "--registry", str(tmp_path), "list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and any("山田の版" in row for row in rows)
    for row in rows:  # each threshold starts under THRESHOLD, as a terminal shows it
        at = row.index(f"{fitted.threshold_:.4f}")
        assert display_width(row[:at]) == header.index("THRESHOLD")
