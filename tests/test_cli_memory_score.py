"""Running out of memory reading a data file (``dhag train``, ``dhag score``) or scoring it (the scores,
the attributions of --explain): one paragraph naming what was read or scored and what to do, exit 2, no
traceback. The errors are raised in place of the reader or the scorer (no real shortage is made)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_files import modes_csv
from numpy._core._exceptions import _ArrayMemoryError  # what numpy raises: a MemoryError

from dhag.cli import main

_READ_SHORTAGES = {
    "python": MemoryError(),
    "numpy": _ArrayMemoryError((300_000_000, 40), np.dtype("float64")),
    # pandas' C tokenizer, failing to grow its buffers, says so in a ParserError (a ValueError)
    "csv tokenizer": pd.errors.ParserError("Error tokenizing data. C error: out of memory"),
}
_SCORE_SHORTAGES = {
    "cuda": torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has 1 GiB free."),
    "cpu allocator": RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
        "to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)"
    ),
    "numpy": _ArrayMemoryError((300_000_000, 40), np.dtype("float64")),
}


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return modes_csv(tmp_path)


@pytest.fixture
def model(rows: Path, tmp_path: Path) -> Path:
    out = tmp_path / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(out), "--categorical", "mode", "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    return out


def _one_line(err: str, command: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"dhag {command}: error: out of memory "), err
    return err


def _refuse_reading(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise error

    monkeypatch.setattr("dhag.io.pd.read_csv", read)


@pytest.mark.parametrize("kind", list(_READ_SHORTAGES))
def test_train_out_of_memory_reading_the_file_says_to_train_on_a_sample(
    rows: Path, tmp_path: Path, kind: str, monkeypatch, capsys
) -> None:
    _refuse_reading(_READ_SHORTAGES[kind], monkeypatch)
    out = tmp_path / "new" / "m.dhag"
    assert main(["train", "--data", str(rows), "--out", str(out), "--quiet"]) == 2
    err = _one_line(capsys.readouterr().err, "train")
    assert f"reading {str(rows)!r} ({rows.stat().st_size:,} bytes)" in err
    assert "sample of its rows" in err and "nothing was written" in err and not out.parent.exists()


@pytest.mark.parametrize("kind", list(_READ_SHORTAGES))
def test_score_out_of_memory_reading_the_file_says_to_score_it_in_parts(
    model: Path, rows: Path, tmp_path: Path, kind: str, monkeypatch, capsys
) -> None:
    _refuse_reading(_READ_SHORTAGES[kind], monkeypatch)
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", str(out)]) == 2
    err = _one_line(capsys.readouterr().err, "score")
    assert f"reading {str(rows)!r} ({rows.stat().st_size:,} bytes)" in err
    assert "in parts" in err and "nothing was written" in err and not out.exists()


@pytest.mark.parametrize("suffix", [".parquet", ".npz"])
def test_out_of_memory_reading_parquet_or_npz_is_said_alike(
    model: Path, rows: Path, tmp_path: Path, suffix: str, monkeypatch, capsys
) -> None:
    import pyarrow.lib

    frame = pd.read_csv(rows)
    data = tmp_path / f"rows{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(data)
        reader, error = "dhag.io.pd.read_parquet", pyarrow.lib.ArrowMemoryError("malloc of size 4096 failed")
    else:
        np.savez(data, X=frame[["a", "b"]].to_numpy(float))
        reader, error = "dhag.io.np.load", _READ_SHORTAGES["numpy"]

    def read(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise error

    monkeypatch.setattr(reader, read)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "n.dhag"), "--quiet"]) == 2
    assert f"reading {str(data)!r}" in _one_line(capsys.readouterr().err, "train")
    assert main(["score", "--model", str(model), "--data", str(data)]) == 2
    assert f"reading {str(data)!r}" in _one_line(capsys.readouterr().err, "score")


@pytest.mark.parametrize("kind", list(_SCORE_SHORTAGES))
def test_score_out_of_memory_scoring_names_the_rows_and_the_device(
    model: Path, rows: Path, tmp_path: Path, kind: str, monkeypatch, capsys
) -> None:
    def score(self, X):  # noqa: ANN001, ANN202
        raise _SCORE_SHORTAGES[kind]

    monkeypatch.setattr("dhag.estimator.DHAG.decision_function", score)
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model), "--data", str(rows), "--out", str(out)]) == 2
    err = _one_line(capsys.readouterr().err, "score")
    assert "scoring 300 rows x 3 features on cpu" in err and "in parts" in err
    assert ("8589934592 bytes" in err) == (kind == "cpu allocator") and not out.exists()


def test_score_out_of_memory_explaining_says_to_explain_fewer_features(
    model: Path, rows: Path, monkeypatch, capsys
) -> None:
    def explain(self, X, top=3, logit_drops=False):  # noqa: ANN001, ANN202
        raise _SCORE_SHORTAGES["numpy"]

    monkeypatch.setattr("dhag.estimator.DHAG.explain", explain)
    # every row flagged
    monkeypatch.setattr("dhag.estimator.DHAG.decision_function", lambda self, X: np.ones(len(X)))
    assert main(["score", "--model", str(model), "--data", str(rows), "--explain", "2"]) == 2
    err = _one_line(capsys.readouterr().err, "score")
    assert "a smaller --explain (now 2)" in err


def test_another_error_scoring_is_not_taken_for_a_shortage(model: Path, rows: Path, monkeypatch) -> None:
    def score(self, X):  # noqa: ANN001, ANN202
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x3 and 4x64)")

    monkeypatch.setattr("dhag.estimator.DHAG.decision_function", score)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(["score", "--model", str(model), "--data", str(rows)])
