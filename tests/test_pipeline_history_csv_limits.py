"""A CSV history with a field over the csv module's limit (128 KiB), which pandas reads but the checks
made with the csv module cannot: refused rather than read past what they would have found."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.historyfile import HistoryError, read_history
from pipeline.simulator.fleet import Fleet


def test_a_row_wider_than_its_header_is_refused_past_a_field_over_the_csv_module_s_limit(
    tmp_path: Path,
) -> None:
    # Before, a decimal comma in the first row, whose note was over 128 KiB, was read as two fields:
    # flow_m3h 58.1 trained as 58.0 and suction_pressure_bar 2.05 as 1.0, the rest cut off unsaid.
    frame = Fleet(1, seed=3, run=0).run(600, 60).drop(columns=["fault", "recovering"])
    lines = frame.assign(note="ok", flow_m3h=58.1).to_csv(index=False).splitlines()
    lines[1] = lines[1].replace("58.1", "58,1").replace(",ok", "," + "x" * 200_000)
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError, match="a row is wider than its header") as refused:
        read_history(path)
    assert "numbers need '.' as the decimal point" in str(refused.value)
