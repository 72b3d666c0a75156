"""``dhag score --out`` on a volume with less room than the scores take at least: refused once the rows are
read and before they are scored, where before only a probe of 4 KiB was written, and a large file's
scores failed to be written after the whole scoring."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag.cli import main
from dhag.scoreswrite import scores_bytes


def _volume_with(free: int, real_statvfs):  # noqa: ANN001, ANN202
    """``os.statvfs`` of a volume with ``free`` bytes available, in blocks of 4 KiB."""

    def statvfs(path: str | os.PathLike) -> os.statvfs_result:
        fields = list(real_statvfs(path))
        fields[1], fields[3], fields[4] = 4096, free // 4096 + 2**30, free // 4096
        return os.statvfs_result(fields)

    return statvfs


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("score_room")
    rows = folder / "rows.csv"
    rows.write_text("asset,a,b\n" + "".join(f"pump-{i % 13},{i},{i % 7}\n" for i in range(5000)))
    model = folder / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(model), "--id-columns", "asset", "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    return {"rows": rows, "model": model}


def _score(files: dict[str, Path], out: Path, *more: str) -> int:
    return main(
        ["score", "--model", str(files["model"]), "--data", str(files["rows"]), "--out", str(out), *more]
    )


def test_scores_larger_than_the_room_left_are_refused_before_scoring(
    files: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "scores.csv"
    out.write_text("yesterday's scores\n")
    monkeypatch.setattr("dhag.estimator.DHAG.decision_function", lambda *a: pytest.fail("scored first"))
    monkeypatch.setattr(os, "statvfs", _volume_with(40 * 1024, os.statvfs))
    capsys.readouterr()
    assert _score(files, out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dhag score: error: --out {str(out)!r}: the volume of {str(tmp_path)!r} has ")
    assert "40,960 bytes available, and the scores of 5,000 rows take about " in err
    assert err.endswith("score the file in parts; nothing was scored.\n")
    assert out.read_text() == "yesterday's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


@pytest.mark.parametrize("explain", ["0", "2"])
def test_a_volume_with_less_room_than_the_scores_take_is_refused_before_scoring(
    files: dict[str, Path], tmp_path: Path, explain: str, monkeypatch, capsys
) -> None:
    # The room asked for was the least the scores could take (a score of 3 characters), about half of
    # what they take: a volume with room for 90% of them passed, and the write failed after the scoring.
    out = tmp_path / "scores.csv"
    assert _score(files, out, "--explain", explain) == 0
    written = out.stat().st_size
    frame = pd.read_csv(files["rows"], dtype={"asset": "string"})
    needed = scores_bytes(frame[["asset"]], rows=len(frame), explain=explain != "0")
    assert 0.95 * written <= needed <= written
    out.unlink()
    monkeypatch.setattr(os, "statvfs", _volume_with(int(0.9 * written), os.statvfs))
    with monkeypatch.context() as scoring:
        scoring.setattr("dhag.estimator.DHAG.decision_function", lambda *a: pytest.fail("scored first"))
        capsys.readouterr()
        assert _score(files, out, "--explain", explain) == 2
    assert f"and the scores of 5,000 rows take about {needed:,}: " in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setattr(os, "statvfs", _volume_with(written + 4096, os.statvfs))
    assert _score(files, out, "--explain", explain) == 0 and out.stat().st_size == written


@pytest.mark.parametrize("column", ["asset", "reading"])
def test_the_room_asked_for_counts_each_id_as_written(column: str) -> None:
    # A numeric id (an NPZ's label array) was counted as one character, text by its characters.
    ids = pd.DataFrame(
        {"asset": pd.array(["pümp-7", None, "fan-12"], dtype="string"), "reading": [7, 1234, -5]}
    )
    written = ids[[column]].assign(score=0.5365920517295646, anomaly=0).to_csv(index=False)
    assert scores_bytes(ids[[column]], rows=3, explain=False) == len(written.encode())


def test_scores_to_a_device_are_not_asked_for_room(files: dict[str, Path], monkeypatch) -> None:
    monkeypatch.setattr(os, "statvfs", _volume_with(0, os.statvfs))
    assert _score(files, Path(os.devnull)) == 0


@pytest.fixture(scope="module")
def many_flagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model of four sensors that flags half the rows it was trained on (--contamination 0.5)."""
    folder = tmp_path_factory.mktemp("score_room_explained")
    rows = folder / "rows.csv"
    names = [f"pressure_sensor_{i}" for i in range(4)]
    pd.DataFrame(np.random.default_rng(0).normal(size=(2000, 4)), columns=names).to_csv(rows, index=False)
    model = folder / "m.dhag"
    argv = ["train", "--data", str(rows), "--out", str(model), "--device", "cpu", "--contamination", "0.5"]
    assert main([*argv, "--max-epochs", "1", "--quiet"]) == 0
    return {"rows": rows, "model": model}


def test_the_room_asked_for_counts_the_features_explain_names(
    many_flagged: dict[str, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    # The features named for each flagged row were left out: with half the rows flagged and three
    # features named, the scores took 2.5 times what was asked for, and the write failed after the work.
    out = tmp_path / "scores.csv"
    assert _score(many_flagged, out, "--explain", "3") == 0
    written, flagged = out.stat().st_size, int(pd.read_csv(out)["anomaly"].sum())
    assert 800 < flagged < 1200
    out.unlink()
    monkeypatch.setattr(os, "statvfs", _volume_with(int(0.9 * written), os.statvfs))
    with monkeypatch.context() as explaining:
        explaining.setattr("dhag.estimator.DHAG.explain", lambda *a, **k: pytest.fail("explained first"))
        capsys.readouterr()
        assert _score(many_flagged, out, "--explain", "3") == 2
    err = capsys.readouterr().err
    needed = int(err.split(" take about ")[1].split(":")[0].replace(",", ""))
    # Each flagged row counted with three features: those barely flagged, which name fewer, take less.
    assert written <= needed <= 1.08 * written
    assert f"the scores of 2,000 rows, with the features named for the {flagged:,} flagged, take " in err
    assert err.endswith("; the rows were scored, and nothing was written.\n")
    assert not out.exists()
    monkeypatch.setattr(os, "statvfs", _volume_with(needed + 4096, os.statvfs))
    assert _score(many_flagged, out, "--explain", "3") == 0 and out.stat().st_size == written
