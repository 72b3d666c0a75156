"""`models train` says when a history shows too few hours of operation for a model that raises few
false alerts, before it trains (``pipeline/historyspan.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_pipeline_history_inputs import T0, Trained

from pipeline.cli import main
from pipeline.simulator.fleet import Fleet

ADVICE = "models train: the history covers"


@pytest.fixture
def trained(monkeypatch) -> Trained:
    fake = Trained()
    monkeypatch.setattr("pipeline.plantmodel.train_plant_model", fake)
    return fake


def _err(tmp_path: Path, frame: pd.DataFrame, capsys) -> list[str]:
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    code = main(["models", "--registry", str(tmp_path / "registry"), "train", str(path)])
    assert code == 2  # the stand-in training stops the command
    return capsys.readouterr().err.splitlines()


def _history(seconds: int, step: int, assets: int = 2) -> pd.DataFrame:
    """Rows every ``step`` seconds over [0, ``seconds``): an hour of the simulator's readings of each
    asset, stamped again in turn (only the times matter here; simulating days would take long)."""
    hour = Fleet(assets, seed=3, run=0).run(3600, 60).drop(columns=["fault", "recovering"])
    per_asset = [rows.reset_index(drop=True) for _, rows in hour.groupby("asset_id")]
    stamps = np.arange(0, seconds, step)
    frames = [rows.iloc[np.arange(len(stamps)) % len(rows)].assign(t=stamps + T0) for rows in per_asset]
    return pd.concat(frames, ignore_index=True)


def test_a_day_of_history_is_advised_against_before_training(tmp_path: Path, capsys, trained) -> None:
    err = _err(tmp_path, _history(86_400, 600), capsys)
    said = [line for line in err if line.startswith(ADVICE)]
    assert len(said) == 1, err
    assert "covers 24 hours of operation of the median asset" in said[0]
    assert "train on at least 72 hours" in said[0] and "docs/plant-bench.md" in said[0]
    assert err.index(said[0]) < err.index("models train: refused: training stopped by the test")
    assert trained.history is not None  # advice only: the training still ran


def test_three_days_of_history_draw_no_advice(tmp_path: Path, capsys, trained) -> None:
    err = _err(tmp_path, _history(3 * 86_400, 1800), capsys)
    assert not [line for line in err if line.startswith(ADVICE)], err


def test_hours_covered_count_the_operation_seen_not_the_span(tmp_path: Path, capsys, trained) -> None:
    # A week sampled during one hour a day spans 145 hours and shows 7 of them.
    week = _history(7 * 86_400, 600)
    hourly = week[(week["t"] - T0) % 86_400 < 3600]
    err = _err(tmp_path, hourly, capsys)
    said = [line for line in err if line.startswith(ADVICE)]
    assert len(said) == 1 and "covers 7 hours" in said[0], err


def test_the_assets_covering_fewest_hours_are_named(tmp_path: Path, capsys, trained) -> None:
    frame = _history(4 * 86_400, 1800, assets=3)
    first = sorted(frame["asset_id"].unique())[0]
    short = frame[(frame["asset_id"] != first) | (frame["t"] - T0 < 5 * 3600)]  # one asset: 5 hours
    err = _err(tmp_path, short, capsys)
    assert not [line for line in err if line.startswith(ADVICE)], "the median asset has 96 hours"
    both = short[short["asset_id"] != sorted(frame["asset_id"].unique())[1]]
    both = both[(both["asset_id"] == first) | (both["t"] - T0 < 30 * 3600)]
    said = [line for line in _err(tmp_path, both, capsys) if line.startswith(ADVICE)]
    assert len(said) == 1 and f"the fewest: {first} 5," in said[0], said


@pytest.mark.parametrize(
    ("start_s", "seconds", "hours"),
    [
        (30, 6 * 3600 + 30, "6"),  # as `simulate --history --hours 6` writes it: t = 30 ... 21600
        (15 * 60, 24 * 3600 + 15 * 60, "24"),  # a day's export from 00:15 to 00:14:30 the next day
    ],
)
def test_hours_covered_are_not_more_than_the_rows_span(
    tmp_path: Path, capsys, trained, start_s: int, seconds: int, hours: str
) -> None:
    # Before: the clock hours touched, so 6 hours of rows that do not start on the hour said 7.
    frame = _history(seconds, 30)
    frame = frame[frame["t"] - T0 >= start_s]
    said = [line for line in _err(tmp_path, frame, capsys) if line.startswith(ADVICE)]
    assert len(said) == 1 and f"covers {hours} hours of operation" in said[0], said
