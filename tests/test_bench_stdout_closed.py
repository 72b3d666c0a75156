"""``dhag bench`` with standard output closed (``>&-``): ``show`` prints its tables nowhere else, and a
benchmark without ``--json`` has its results nowhere else, so both are refused before any work, one line
on stderr and exit status 2, as ``dhag score`` without ``--out`` is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dhag.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["show", "results.json"], "the tables dhag bench show prints have nowhere to go"),
        (["speed", "--rows", "100"], "the results have nowhere to go: name a file with --json"),
    ],
)
def test_bench_with_standard_output_closed_is_refused(
    argv: list[str], said: str, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of a closed standard output: `>&-`
    monkeypatch.setattr("dhag.bench.run_speed", lambda **k: pytest.fail("ran the benchmark first"))
    # Before: show printed nowhere and exited 0; speed ran, and its results were lost.
    assert main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dhag bench: error: standard output is closed (>&-), so ") and said in err


def test_bench_with_json_runs_with_standard_output_closed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr("dhag.bench.run_speed", lambda **k: {"meta": {}, "rows_per_s": 1.0})
    assert main(["bench", "speed", "--json", str(tmp_path / "speed.json")]) == 0
