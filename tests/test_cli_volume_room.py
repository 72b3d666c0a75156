"""``dhag train`` into a folder whose volume has a few KiB left: refused once the rows are read, before
any training, where before the probe of a few bytes passed, the whole training ran, and only the
model's write said "No space left on device"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_files import numbers_csv

from dhag import DHAG
from dhag.artifact import load_model
from dhag.cli import main
from dhag.modelroom import least_model_bytes


def _volume_with(free: int, real_statvfs):  # noqa: ANN001, ANN202
    """``os.statvfs`` of a volume with ``free`` bytes left, in blocks of 4 KiB."""

    def statvfs(path: str | os.PathLike) -> os.statvfs_result:
        real = real_statvfs(path)
        fields = list(real)
        # f_frsize, f_bfree (as root, what a volume keeps back for it besides), f_bavail
        fields[1], fields[3], fields[4] = 4096, free // 4096 + 2**30, free // 4096
        return os.statvfs_result(fields)

    return statvfs


@pytest.mark.parametrize("under", ["", "new/"])
def test_train_on_a_volume_without_room_for_the_model_is_refused_before_training(
    under: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows = numbers_csv(tmp_path)
    out = tmp_path / f"{under}m.dhag"
    monkeypatch.setattr("dhag.estimator.DHAG.fit", lambda *a, **k: pytest.fail("trained before refusing"))
    monkeypatch.setattr(os, "statvfs", _volume_with(12 * 1024, os.statvfs))
    assert main(["train", "--data", str(rows), "--out", str(out), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(out)!r}" in err and repr(str(tmp_path)) in err and "12,288 bytes available" in err
    assert "nothing was trained" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_the_room_asked_for_is_no_more_than_the_model_takes(tmp_path: Path, monkeypatch) -> None:
    rows = numbers_csv(tmp_path)
    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(out), "--quiet", "--device", "cpu"]
    needed = least_model_bytes(DHAG(n_members=2), 2)
    # Room for the weights of the two networks and no more is enough to start training.
    monkeypatch.setattr(os, "statvfs", _volume_with(needed + 4096, os.statvfs))
    assert main([*argv, "--max-epochs", "1", "--members", "2"]) == 0
    weights = load_model(out).net_.state_dict().values()
    assert needed == sum(t.numel() * t.element_size() for t in weights) <= out.stat().st_size


def test_the_room_asked_for_counts_the_snapshots_the_model_keeps(tmp_path: Path, monkeypatch, capsys) -> None:
    # Before, one network a member was asked for: 4 snapshots' model passed room for a quarter of it,
    # and its write failed after the training.
    rows = numbers_csv(tmp_path)
    out = tmp_path / "m.dhag"
    argv = [
        "train",
        "--data",
        str(rows),
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
        "--max-epochs",
        "8",
    ]
    needed = least_model_bytes(DHAG(snapshots=4, max_epochs=8), 2, rows=200)
    assert needed == 4 * least_model_bytes(DHAG(), 2)
    monkeypatch.setattr(os, "statvfs", _volume_with(needed - 4096, os.statvfs))
    assert main([*argv, "--snapshots", "4"]) == 2
    assert f"and the model takes at least {needed:,}" in capsys.readouterr().err and not out.exists()
    monkeypatch.setattr(os, "statvfs", _volume_with(needed + 4096, os.statvfs))
    assert main([*argv, "--snapshots", "4"]) == 0
    weights = load_model(out).net_.state_dict().values()
    assert needed == sum(t.numel() * t.element_size() for t in weights)
