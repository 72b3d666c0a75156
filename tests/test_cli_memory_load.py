"""Running out of memory loading the model onto its device (``dhag score``), or writing the scores:
one paragraph naming the model or where the scores were going and what to do, exit 2, no traceback,
and no shortage read as a damaged model. The errors are raised in place of torch's or pandas' calls
(no real shortage is made)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from cli_files import numbers_csv, one_epoch_model

from dhag.cli import main

_CUDA = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has 1 GiB free.")
_CPU = RuntimeError(
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
    "to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return numbers_csv(tmp_path, rows=300)


@pytest.fixture
def model(rows: Path, tmp_path: Path) -> Path:
    return one_epoch_model(rows, tmp_path)


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("dhag score: error: out of memory "), err
    return err


def _raising(error: BaseException):  # noqa: ANN202
    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise error

    return fail


def _score(model: Path, rows: Path, *more: str) -> int:
    return main(["score", "--model", str(model), "--data", str(rows), *more])


def test_moving_the_model_onto_a_device_too_small_says_to_score_on_the_cpu(
    model: Path, rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(torch.nn.Module, "to", _raising(_CUDA))
    out = tmp_path / "scores.csv"
    assert _score(model, rows, "--out", str(out)) == 2  # before: a traceback
    err = _one_line(capsys.readouterr().err)
    size = f"{model.stat().st_size:,} bytes"
    assert f"loading the model {str(model)!r} ({size}) onto cpu (it asked for 2.50 GiB more)" in err
    assert "--device cpu" not in err and "nothing was scored" in err and f"written to {out}" in err
    assert not out.exists()


def test_on_a_gpu_it_says_to_load_it_on_the_cpu(model: Path, rows: Path, monkeypatch, capsys) -> None:
    capsys.readouterr()
    for where in ("dhag.params.resolve_device", "dhag.scorecmd.resolve_device"):
        monkeypatch.setattr(where, lambda device, **_: torch.device("cuda:0"))
    monkeypatch.setattr(torch.nn.Module, "to", _raising(_CUDA))
    assert _score(model, rows, "--device", "cuda") == 2
    err = _one_line(capsys.readouterr().err)
    assert "onto cuda:0" in err and "--device cpu" in err


@pytest.mark.parametrize(
    ("where", "error"),
    [("torch.nn.Module.load_state_dict", _CPU), ("dhag.artifact.st_load", MemoryError())],
    ids=["building the networks", "reading the weights"],
)
def test_a_shortage_loading_is_not_read_as_a_damaged_model(
    model: Path, rows: Path, where: str, error: BaseException, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(where, _raising(error))
    assert _score(model, rows) == 2
    err = _one_line(capsys.readouterr().err)
    # Before: "Model artifact ... is inconsistent: ... can't allocate memory", or "unreadable".
    assert f"loading the model {str(model)!r}" in err and "inconsistent" not in err
    assert "readable" not in err and "damaged" not in err


def test_out_of_memory_writing_the_scores_keeps_the_file_there(
    model: Path, rows: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    out = tmp_path / "scores.csv"
    out.write_text("scores of yesterday\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _raising(MemoryError()))
    assert _score(model, rows, "--out", str(out)) == 2  # before: a traceback
    err = _one_line(capsys.readouterr().err)
    assert f"writing the scores of 300 rows to {str(out)!r}" in err and "in parts" in err
    assert out.read_text() == "scores of yesterday\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dhag", "rows.csv", "scores.csv"]


def test_out_of_memory_writing_the_scores_to_standard_output(
    model: Path, rows: Path, monkeypatch, capsys
) -> None:
    capsys.readouterr()
    monkeypatch.setattr(pd.DataFrame, "to_csv", _raising(MemoryError()))
    assert _score(model, rows) == 2
    err = _one_line(capsys.readouterr().err)
    assert "writing the scores of 300 rows to standard output" in err and "in parts" in err
