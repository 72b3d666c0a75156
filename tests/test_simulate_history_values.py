"""``simulate --history`` writes what a plant's history holds: the time, the asset, its type and the
sensors' readings, each as a live record of that reading carries it (rounded to 4 decimals, the
transmitters' steps), and nothing of the simulator's ground truth."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from pipeline.cli import main
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.physics import MACHINE_TYPES


def _write(path: Path) -> None:
    assert main(["simulate", "--history", str(path), "--assets", "3", "--hours", "0.5"]) == 0


def test_the_history_holds_readings_and_no_ground_truth(tmp_path: Path) -> None:
    for name in ("h.csv", "h.parquet"):
        _write(tmp_path / name)
        frame = pd.read_csv(tmp_path / name) if name.endswith(".csv") else pd.read_parquet(tmp_path / name)
        sensors = sorted({s for spec in MACHINE_TYPES.values() for s in spec.sensors})
        assert sorted(frame.columns) == sorted(["t", "asset_id", "machine_type", *sensors]), name


def test_each_value_is_written_as_a_record_of_that_reading_carries_it(tmp_path: Path) -> None:
    _write(tmp_path / "h.csv")
    with open(tmp_path / "h.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # The readings the records of the same fleet and run would carry, in the same order.
    fleet = Fleet(3, seed=0, run=0)
    expected = []
    for _ in range(60):
        _, readings = fleet.step(10.0)
        _, readings = fleet.step(10.0)
        _, readings = fleet.step(10.0)
        expected += fleet.records(readings)
    assert len(rows) == len(expected) == 180
    for row, (asset, values) in zip(rows, expected, strict=True):
        assert row["asset_id"] == asset
        for sensor, value in values.items():
            assert row[sensor] == repr(value), (asset, sensor, row[sensor], value)
