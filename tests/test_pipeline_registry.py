"""The model registry folder: publish, current, load, and the errors that stop start-up."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelUnavailableError
from pipeline.registry import current, load_current, publish


def test_publish_then_load_the_current_version(fitted, tmp_path: Path) -> None:
    assert publish(tmp_path, fitted, "v1") == "v1"
    auto = publish(tmp_path, fitted)
    version, path = current(tmp_path)
    assert version == auto != "v1" and path == tmp_path / f"{auto}.dhag"
    loaded_version, model = load_current(tmp_path)
    assert loaded_version == auto and model.metadata_["version"] == auto
    rows = np.zeros((2, len(model.feature_names_in_)))
    np.testing.assert_allclose(model.decision_function(rows), fitted.decision_function(rows))
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_pointer_missing_artifact_and_damaged_artifact_are_clear_errors(
    fitted, tmp_path: Path
) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        current(tmp_path)
    (tmp_path / "current").write_text("v9\n")
    with pytest.raises(ModelUnavailableError, match="'v9'"):
        current(tmp_path)
    publish(tmp_path, fitted, "v2")
    data = bytearray((tmp_path / "v2.dhag").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "v2.dhag").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError, match="Cannot load model version 'v2'"):
        load_current(tmp_path)
    with pytest.raises(ValueError, match="version"):
        publish(tmp_path, fitted, "../escape")


def test_a_published_version_is_never_replaced(fitted, tmp_path: Path) -> None:
    publish(tmp_path, fitted, "v1")
    before = (tmp_path / "v1.dhag").read_bytes()
    with pytest.raises(ValueError, match="'v1' already exists"):
        publish(tmp_path, fitted, "v1", make_current=False)
    assert (tmp_path / "v1.dhag").read_bytes() == before and current(tmp_path)[0] == "v1"


def test_concurrent_publishers_each_get_their_own_version(fitted, tmp_path: Path) -> None:
    # Within one second, timestamp versions collide unless the choice and the write are one step.
    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(lambda _: publish(tmp_path, fitted, make_current=False), range(4)))
    assert len(set(versions)) == 4
    assert sorted(p.stem for p in tmp_path.glob("*.dhag")) == sorted(versions)


def test_a_pointer_that_is_not_text_is_a_clear_error(fitted, tmp_path: Path) -> None:
    publish(tmp_path, fitted, "v1")
    (tmp_path / "current").write_bytes(b"\xff\xfe v1")
    with pytest.raises(ModelUnavailableError, match="is not text"):
        load_current(tmp_path)


def test_a_rollback_to_a_version_that_no_longer_loads_is_refused_and_changes_nothing(
    fitted, tmp_path: Path
) -> None:
    # Nothing failed when rollback stopped loading its target: current then named a damaged model,
    # and every daemon restarted on it would exit with code 4.
    from pipeline.registry import history, rollback

    publish(tmp_path, fitted, "v1")
    publish(tmp_path, fitted, "v2")
    data = bytearray((tmp_path / "v1.dhag").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "v1.dhag").write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError):
        rollback(tmp_path)
    assert current(tmp_path)[0] == "v2" and history(tmp_path) == ["v1"]


def test_a_promotion_over_a_version_no_longer_current_is_refused(fitted, tmp_path: Path) -> None:
    # The retrainer promotes its candidate only over the model it was judged against; an operator's
    # rollback in between wins.
    from pipeline.errors import CurrentChangedError
    from pipeline.registry import promote

    for version in ("v1", "v2"):
        publish(tmp_path, fitted, version)
    publish(tmp_path, fitted, "v3", make_current=False)
    with pytest.raises(CurrentChangedError):
        promote(tmp_path, "v3", only_over="v1")
    assert current(tmp_path)[0] == "v2"
    assert promote(tmp_path, "v3", only_over="v2") == "v2" and current(tmp_path)[0] == "v3"


def _failing_folder_fsync(monkeypatch, err: int) -> list[int]:
    """Make fsync of a folder fail with ``err`` (files still sync); returns the folder fds it was asked."""
    import os
    import stat

    import dhag.artifact

    real, asked = os.fsync, []

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            asked.append(fd)
            raise OSError(err, os.strerror(err))
        real(fd)

    monkeypatch.setattr(dhag.artifact.os, "fsync", fsync)
    return asked


def test_a_folder_fsync_failing_after_the_switch_reports_the_publication_and_warns(
    fitted, tmp_path: Path, monkeypatch, caplog
) -> None:
    # Before, the error of the last fsync escaped publish() though `current` already named the new
    # version: the caller reported a failed publication while the daemons were loading it.
    import errno

    publish(tmp_path, fitted, "v1")
    asked = _failing_folder_fsync(monkeypatch, errno.EIO)
    with caplog.at_level("WARNING", logger="dhag.atomicwrite"):
        assert publish(tmp_path, fitted, "v2") == "v2"
    assert asked and current(tmp_path)[0] == "v2"
    assert "may not survive a power loss" in caplog.text and "current" in caplog.text


def test_a_folder_that_cannot_be_synced_is_not_warned_about(
    fitted, tmp_path: Path, monkeypatch, caplog
) -> None:
    import errno

    asked = _failing_folder_fsync(monkeypatch, errno.EINVAL)
    with caplog.at_level("WARNING", logger="dhag.atomicwrite"):
        publish(tmp_path, fitted, "v1")
    assert asked and current(tmp_path)[0] == "v1" and "power loss" not in caplog.text


def test_a_file_fsync_failing_before_the_switch_raises_and_changes_nothing(
    fitted, tmp_path: Path, monkeypatch
) -> None:
    import errno
    import os

    import dhag.artifact

    publish(tmp_path, fitted, "v1")

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(dhag.artifact.os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output"):
        publish(tmp_path, fitted, "v2")
    monkeypatch.undo()
    assert current(tmp_path)[0] == "v1" and not list(tmp_path.glob(".*.tmp"))
    assert os.path.exists(tmp_path / "current")


def test_the_command_an_empty_registry_suggests_is_one_the_command_line_takes(tmp_path: Path) -> None:
    # It named `models train --history FILE`, which the command line refuses: the history is positional.
    from pipeline.cli import _parser

    with pytest.raises(ModelUnavailableError) as raised:
        current(tmp_path)
    suggested = re.findall(r"'dhag-pipeline ([^']+)'", str(raised.value))
    assert suggested, str(raised.value)
    for command in suggested:
        argv = command.replace("HISTORY", str(tmp_path / "history.parquet")).split()
        args = _parser().parse_args(argv)  # a SystemExit here: the command line refuses it
        assert (args.command, args.action) == ("models", "train")


def test_a_model_its_file_could_not_hold_is_refused_before_its_version_or_sample_exists(
    fitted, tmp_path: Path
) -> None:
    # save refuses a threshold outside [0, 1] (load_model would refuse the file); the reference
    # sample, written first so a version is never visible without it, was left behind alone.
    import copy

    from dhag import ArtifactError

    publish(tmp_path, fitted, "v1")
    odd = copy.copy(fitted)
    odd.threshold_ = 1.5
    reference = [("p1", 0.0, {"flow_a": 1.0})]
    with pytest.raises(ArtifactError, match="cannot be saved: its threshold 1.5"):
        publish(tmp_path, odd, "v2", reference=reference)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("v")) == ["v1.dhag"]
    assert current(tmp_path)[0] == "v1"
    assert publish(tmp_path, fitted, "v2", reference=reference) == "v2"  # the name is still free
