"""DHAG against the best other detector of a table2 result, seed by seed (``dhag bench show``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from dhag.bench.paired import paired_against_best_peer
from dhag.bench.table2 import format_table2, summarise_runs
from dhag.cli import main


def _cell(f1s: dict[int, float]) -> dict[str, Any]:
    runs = [
        {
            "seed": s,
            "f1": f,
            "auroc": 0.9,
            "fit_seconds": 1.0,
            "score_seconds": 0.1,
            "n_train_rows": 9,
            "note": "n",
        }
        for s, f in f1s.items()
    ]
    return summarise_runs(runs)


def _result() -> dict[str, Any]:
    dhag = _cell({0: 0.80, 1: 0.70, 2: 0.90, 3: 0.75})
    knn = _cell({0: 0.75, 1: 0.75, 2: 0.75, 3: 0.75})
    ecod = _cell({0: 0.10, 1: 0.95, 2: 0.10, 3: 0.10})  # one high seed, a low mean: not the best peer
    return {"meta": {"benchmark": "table2"}, "thyroid": {"dhag": dhag, "knn": knn, "ecod": ecod}}


def test_the_comparison_is_paired_seed_by_seed_with_the_peer_of_highest_mean() -> None:
    paired = paired_against_best_peer(_result()["thyroid"])
    assert paired is not None and paired["peer"] == "knn" and paired["seeds"] == 4
    # Differences +5, -5, +15, 0 points: a tie is neither above nor below.
    assert (paired["above"], paired["below"]) == (2, 1)
    assert paired["mean_difference"] == pytest.approx(3.75)
    sd = math.sqrt(sum((d - 3.75) ** 2 for d in (5, -5, 15, 0)) / 3)
    assert paired["standard_error"] == pytest.approx(sd / 2)


def test_only_the_seeds_both_measured_are_paired() -> None:
    cell = {"dhag": _cell({0: 0.8, 1: 0.9, 2: 0.7}), "knn": _cell({1: 0.6, 2: 0.8, 5: 0.1})}
    paired = paired_against_best_peer(cell)
    assert paired is not None and paired["seeds"] == 2
    assert paired["mean_difference"] == pytest.approx(10.0) and (paired["above"], paired["below"]) == (1, 1)
    one = paired_against_best_peer({"dhag": _cell({0: 0.8}), "knn": _cell({0: 0.7})})
    assert one is not None and one["standard_error"] is None
    assert paired_against_best_peer({"knn": _cell({0: 0.7})}) is None
    assert paired_against_best_peer({"dhag": _cell({0: 0.8}), "knn": _cell({1: 0.7})}) is None


def test_the_table_prints_the_paired_comparison_only_beside_peers() -> None:
    text = format_table2(_result())
    assert "| Thyroid | KNN | +3.8 (4.3) | 2 / 1 | 4 |" in text
    alone = {"meta": {}, "thyroid": {"dhag": _result()["thyroid"]["dhag"]}}
    assert "best other detector" not in format_table2(alone)


def test_show_prints_saved_results_and_refuses_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(_result()))
    assert main(["bench", "show", str(saved)]) == 0
    out = capsys.readouterr().out
    assert str(saved) in out and "| Thyroid | KNN | +3.8 (4.3) | 2 / 1 | 4 |" in out
    assert main(["bench", "show"]) == 2 and "give one or more" in capsys.readouterr().err  # a usage error
    (tmp_path / "other.json").write_text(json.dumps({"speed": 1}))
    assert (
        main(["bench", "show", str(tmp_path / "other.json")]) == 2
        and "'speed' is 1 (number), not an object of detectors" in capsys.readouterr().err
    )  # a usage error
    assert (
        main(["bench", "show", str(tmp_path / "missing.json")]) == 2
        and "cannot be read" in capsys.readouterr().err
    )  # a usage error
