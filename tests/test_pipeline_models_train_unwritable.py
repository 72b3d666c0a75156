"""``models train`` into a registry the volume will not let it write (read-only, no permission): refused
before the training, which takes minutes on a real history, not after it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pipeline import plantmodel
from pipeline.cli import main


@pytest.mark.parametrize("there", [True, False])
def test_train_into_a_read_only_registry_is_refused_before_it_trains(
    fitted, tmp_path: Path, capsys, monkeypatch, there
) -> None:
    history = tmp_path / "history.csv"
    assert main(["simulate", "--history", str(history), "--assets", "2", "--hours", "3"]) == 0
    capsys.readouterr()
    volume = tmp_path / "volume"
    volume.mkdir()
    root = volume / "registry"
    if there:
        root.mkdir()
    real_open = os.open

    def read_only(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).startswith(str(volume)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    trained: list[object] = []
    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(plantmodel, "train_plant_model", lambda *a, **k: trained.append(a) or fitted)
    # Before: it trained (a minute on a real history), then refused the publication.
    assert main(["models", "--registry", str(root), "train", str(history)]) == 2
    err = capsys.readouterr().err
    assert trained == []
    assert f"models train: refused: cannot write to the registry {str(root)!r}: Read-only file system" in err
    assert list(volume.iterdir()) == ([root] if there else [])
    assert not there or list(root.iterdir()) == []
