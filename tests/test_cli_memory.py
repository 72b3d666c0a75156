"""``dhag train`` running out of memory: one paragraph naming what was being trained, where, and what to
change, exit 2, no traceback, no model written. The errors are raised in place of training, or of a
step of saving the model (no real shortage of memory is made)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_files import modes_csv, stand_in_model
from numpy._core._exceptions import _ArrayMemoryError  # what numpy raises: a MemoryError

from dhag.cli import main

_SHORTAGES = {
    "cuda": torch.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 79.19 GiB of which "
        "1.06 GiB is free. Of the allocated memory 76.1 GiB is allocated by PyTorch."
    ),
    "cpu allocator": RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
        "to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
    ),
    "python": MemoryError(),
    "numpy": _ArrayMemoryError((300_000_000, 40), np.dtype("float64")),
}


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return modes_csv(tmp_path)


def _shortage(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    def fit(self, X, y=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        raise error

    monkeypatch.setattr("dhag.estimator.DHAG.fit", fit)


@pytest.mark.parametrize("kind", list(_SHORTAGES))
def test_running_out_of_memory_says_what_was_trained_where_and_what_to_do(
    rows: Path, tmp_path: Path, kind: str, monkeypatch, capsys
) -> None:
    device = "cuda:0" if kind == "cuda" else "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: kind == "cuda")  # a machine with one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: int(kind == "cuda"))
    _shortage(_SHORTAGES[kind], monkeypatch)
    out = tmp_path / "models" / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(out), "--categorical", "mode", "--device", device]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dhag train: error: out of memory training 300 rows x 3 features on ")
    assert re.search(rf" on {device}[ .]", err) and err.count("\n") == 1 and "Traceback" not in err
    assert "fewer rows" in err and "--batch-size" in err and "(now 256)" in err
    assert ("--device cpu" in err) == (kind == "cuda")
    assert "nothing was written" in err and not out.exists() and not out.parent.exists()


def test_the_size_asked_for_is_named_when_the_error_gives_it(
    rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    _shortage(_SHORTAGES["cpu allocator"], monkeypatch)
    argv = ["train", "--data", str(rows), "--out", str(tmp_path / "m.dhag"), "--device", "cpu", "--quiet"]
    assert main([*argv, "--batch-size", "64"]) == 2
    err = capsys.readouterr().err
    assert "it asked for 8589934592 bytes more" in err and "(now 64)" in err


def test_auto_names_the_device_it_chose(rows: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _shortage(_SHORTAGES["cuda"], monkeypatch)
    assert main(["train", "--data", str(rows), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert " on cuda (--device auto) " in err and "it asked for 2.50 GiB more" in err


def test_another_runtime_error_is_not_taken_for_a_shortage(rows: Path, tmp_path: Path, monkeypatch) -> None:
    _shortage(RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x3 and 4x64)"), monkeypatch)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(["train", "--data", str(rows), "--out", str(tmp_path / "m.dhag"), "--device", "cpu", "--quiet"])


def test_a_batch_size_trains_with_it(rows: Path, tmp_path: Path) -> None:
    from dhag import load_model

    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(out), "--categorical", "mode", "--device", "cpu"]
    assert main([*argv, "--batch-size", "32", "--max-epochs", "1", "--quiet"]) == 0
    assert load_model(out).batch_size == 32


_SAVING_SHORTAGES = {
    "serialising": ("dhag.artifact.st_save", MemoryError()),
    "the manifest": ("dhag.artifact.json.dumps", _SHORTAGES["cpu allocator"]),
    "writing": ("dhag.atomicwrite.os.fsync", MemoryError()),
}


@pytest.mark.parametrize("where", list(_SAVING_SHORTAGES))
@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_running_out_of_memory_saving_the_model_says_so_and_writes_nothing(
    rows: Path, tmp_path: Path, where: str, existing: bool, monkeypatch, capsys
) -> None:
    target, error = _SAVING_SHORTAGES[where]
    real_fsync = os.fsync

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if target.endswith("fsync") and os.readlink(f"/proc/self/fd/{args[0]}").endswith(".probe"):
            return real_fsync(*args)  # the check before training that --out's folder takes bytes
        raise error

    out = tmp_path / "models" / "m.dhag"
    if existing:
        out.parent.mkdir()
        last_week = stand_in_model(out)
    monkeypatch.setattr(target, fail)
    argv = ["train", "--data", str(rows), "--out", str(out), "--categorical", "mode", "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    # Before: a traceback ending in MemoryError (or torch's RuntimeError), exit 1.
    assert err.startswith(f"dhag train: error: out of memory saving the trained model to {str(out)!r}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "more memory free" in err and "--members" in err
    if existing:
        assert "a file there is kept" in err and out.read_bytes() == last_week
        assert sorted(p.name for p in out.parent.iterdir()) == ["m.dhag"]  # no temp file left
    else:
        assert "nothing was written to it." in err and not out.exists()
        assert not out.parent.exists() or list(out.parent.iterdir()) == []  # the folder made, if any
