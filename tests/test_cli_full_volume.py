"""``dhag train`` (and ``score``) into a folder on a full volume: refused before any training (or
scoring), naming ``--out`` and the folder, where before the whole training ran and only the model's
write said "No space left on device"."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cli_files import numbers_csv, one_epoch_model

from dhag.cli import main


@pytest.mark.parametrize("under", ["", "new/"])
def test_train_on_a_full_volume_is_refused_before_training(
    under: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows = numbers_csv(tmp_path)
    out = tmp_path / f"{under}m.dhag"
    monkeypatch.setattr("dhag.estimator.DHAG.fit", lambda *a, **k: pytest.fail("trained before refusing"))
    monkeypatch.setattr(os, "fsync", _refusing_written(os.fsync))
    assert main(["train", "--data", str(rows), "--out", str(out), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(out)!r}" in err and repr(str(tmp_path)) in err
    assert "No space left on device" in err and "nothing was trained" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]  # no probe left, no folder made


def test_score_on_a_full_volume_is_refused_before_scoring(tmp_path: Path, monkeypatch, capsys) -> None:
    rows = numbers_csv(tmp_path)
    model = one_epoch_model(rows, tmp_path)
    out = tmp_path / "scores.csv"
    monkeypatch.setattr("dhag.scorecmd.read_table", lambda *a, **k: pytest.fail("read the rows first"))
    monkeypatch.setattr(os, "fsync", _refusing_written(os.fsync))
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(out)!r}" in err and "No space left on device" in err and "nothing was scored" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dhag", "rows.csv"]


def _refusing_written(real_fsync):  # noqa: ANN001, ANN202
    """``os.fsync`` on a full volume: a file made there is empty, its first bytes refused at the sync
    (where a volume that takes writes into the page cache refuses them)."""

    def refused(fd: int) -> None:
        if os.fstat(fd).st_size:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    return refused
