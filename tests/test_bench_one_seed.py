"""The table2 table of a run of one seed: no spread is shown where one seed has none to show."""

from __future__ import annotations

from typing import Any

from dhag.bench.table2 import format_table2, summarise_runs


def _result(seeds: int) -> dict[str, Any]:
    runs = [
        {
            "seed": s,
            "f1": 0.7 + 0.02 * s,
            "auroc": 0.98,
            "fit_seconds": 1.0,
            "score_seconds": 0.1,
            "n_train_rows": 9,
            "note": "n",
        }
        for s in range(seeds)
    ]
    return {"meta": {"benchmark": "table2"}, "thyroid": {"dhag": summarise_runs(runs)}}


def test_one_seed_shows_no_standard_deviation_rather_than_zero() -> None:
    # "72.0 ± 0.0" read as a result that no seed would change; the paired table beside it says "(-)".
    row = format_table2(_result(1)).splitlines()[2]
    assert row.startswith("| Thyroid | 70.0 ± - / 98.0 |")
    assert "± 0.0" not in format_table2(_result(1))


def test_two_seeds_show_their_standard_deviation() -> None:
    assert "| Thyroid | 71.0 ± 1.0 / 98.0 |" in format_table2(_result(2))
