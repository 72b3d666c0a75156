"""``dhag score`` of an NPZ file that holds the label array the model was trained with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhag.cli import main


def _npz(folder: Path, **extra: np.ndarray) -> Path:
    path = folder / "rows.npz"
    X = np.stack([np.arange(200.0), np.arange(200.0) % 7], axis=1)
    np.savez(path, X=X, feature_names=np.array(["a", "b"]), **extra)
    return path


def _train_labelled(data: Path, folder: Path) -> Path:
    out = folder / "m.dhag"
    argv = ["train", "--data", str(data), "--out", str(out), "--device", "cpu", "--max-epochs", "1"]
    assert main([*argv, "--label-column", "y", "--quiet"]) == 0
    return out


def test_the_label_array_of_an_npz_is_carried_into_the_scores_as_a_csvs_label_column(
    tmp_path: Path,
) -> None:
    # A labelled CSV is scored with its label column first; the label array of a labelled NPZ was
    # dropped, so its scores could not be set against the labels without reading the file again.
    labels = (np.arange(200) % 50 == 0).astype(np.int64)
    data = _npz(tmp_path, y=labels)
    model = _train_labelled(data, tmp_path)
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model), "--data", str(data), "--out", str(out)]) == 0
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["y", "score", "anomaly"]
    assert scores["y"].tolist() == labels.tolist()


def test_an_npz_without_the_label_array_is_scored_without_it(tmp_path: Path) -> None:
    labels = (np.arange(200) % 50 == 0).astype(np.int64)
    model = _train_labelled(_npz(tmp_path, y=labels), tmp_path)
    (tmp_path / "rows.npz").unlink()
    bare = _npz(tmp_path)
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(model), "--data", str(bare), "--out", str(out)]) == 0
    assert list(pd.read_csv(out).columns) == ["score", "anomaly"]


def test_a_label_array_of_another_length_than_x_is_refused_naming_it(tmp_path: Path, capsys) -> None:
    model = _train_labelled(_npz(tmp_path, y=np.zeros(200, dtype=np.int64)), tmp_path)
    (tmp_path / "rows.npz").unlink()
    short = _npz(tmp_path, y=np.zeros(10, dtype=np.int64))
    assert main(["score", "--model", str(model), "--data", str(short)]) == 2
    assert "'y' must be 1-D with one value per row of 'X' (200)" in capsys.readouterr().err
