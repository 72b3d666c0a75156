"""models train names the assets whose per-unit reference rests on fewer than 100 complete rows taken
running: a standby pump's stops do not count towards them (the reference is its running rows' median)."""

from __future__ import annotations

from pathlib import Path

from pipeline.historyfile import read_history
from pipeline.simulator import Fleet


def test_an_asset_that_ran_in_few_rows_is_said_to_rest_on_little(tmp_path: Path) -> None:
    # A standby pump stopped in 50 of its 120 rows: its reference is taken from the 70 it ran, which
    # the count of complete rows (120) did not say.
    plant = Fleet(2, seed=3, run=0).run(7200, 60).drop(columns=["fault", "recovering"])
    first = plant["asset_id"].iloc[0]
    stopped = plant.index[plant["asset_id"] == first][:50]
    plant.loc[stopped, ["speed_rpm", "motor_power_kw", "flow_m3h", "motor_current_a"]] = 0.0
    plant.to_csv(path := tmp_path / "history.csv", index=False)
    history = read_history(path)
    assert len(history.frame) == len(plant)  # its stops are not dropped here: the training does that
    assert (
        "1 asset(s) have fewer than 100 complete rows taken running, so their per-unit reference and "
        f"ranges rest on little: {first} (70 rows)"
    ) in history.notes
