"""The Table 2 command's DHAG settings: library defaults, or the plant model's shifted-row rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dhag.bench import make_dhag, run_table2
from dhag.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark datasets not found at {DATA}")


def test_make_dhag_keeps_the_library_defaults_unless_beyond_is_asked_for() -> None:
    default, offset, beyond = (
        make_dhag(0),
        make_dhag(0, shift_mode="offset"),
        make_dhag(0, shift_mode="beyond"),
    )
    assert (default.shift_mode, default.shift_range) == ("offset", (2.0, 4.0))
    assert offset.get_params() == default.get_params()
    assert (beyond.shift_mode, beyond.shift_range) == ("beyond", (0.0, 2.0))
    assert {k: v for k, v in beyond.get_params().items() if not k.startswith("shift_")} == {
        k: v for k, v in default.get_params().items() if not k.startswith("shift_")
    }


@needs_data
def test_the_shift_mode_of_a_run_is_recorded_with_its_results(tmp_path: Path) -> None:
    out = tmp_path / "t2.json"
    argv = ["bench", "table2", "--data", str(DATA), "--datasets", "shuttle", "--seeds", "1"]
    assert main([*argv, "--detectors", "dhag", "--dhag-shift-mode", "beyond", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["meta"]["dhag_shift_mode"] == "beyond"
    assert "shift_mode='beyond'" in result["shuttle"]["dhag"]["note"]
    plain = run_table2(DATA, datasets=["shuttle"], seeds=1, detectors=["dhag"])
    assert plain["meta"]["dhag_shift_mode"] == "offset" and "beyond" not in plain["shuttle"]["dhag"]["note"]
