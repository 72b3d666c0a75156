"""`models train HISTORY` with ``t`` written as a date typed as a number (``20261129``,
``20261129101500``): refused saying what it reads as and how to write the time, before any training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.simulator.fleet import Fleet

T0 = 1_795_947_300  # 2026-11-29T10:15:00Z


@pytest.fixture(scope="module")
def plant() -> pd.DataFrame:
    """Two days of two assets, one reading every 20 minutes from 10:35, t in epoch seconds."""
    frame = Fleet(2, seed=3, run=0).run(2 * 86_400, 1200).drop(columns=["fault", "recovering"])
    return frame.assign(t=frame["t"] + T0)


@pytest.fixture
def trained(monkeypatch) -> list[pd.DataFrame]:
    """The histories the training was given; it stops the command there."""
    given: list[pd.DataFrame] = []

    def fake(history: pd.DataFrame, **_: object) -> None:
        given.append(history.copy())
        raise ValueError("training stopped by the test")

    monkeypatch.setattr("pipeline.plantmodel.train_plant_model", fake)
    return given


def _train(tmp_path: Path, frame: pd.DataFrame, capsys, name: str = "history.csv") -> tuple[int, str]:
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    code = main(["models", "--registry", str(tmp_path / "registry"), "train", str(path)])
    err = capsys.readouterr().err.splitlines(keepends=True)
    return code, "".join(line for line in err if not line.startswith("models train: the history covers"))


def test_dates_typed_as_numbers_are_refused_saying_what_they_read_as(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, a daily history with t 20261129 trained on times in 1970 (epoch seconds) with no word.
    daily = plant.groupby("asset_id").head(1)
    days = pd.concat([daily.assign(t=20261101 + day) for day in range(28)])
    code, err = _train(tmp_path, days, capsys)
    assert code == 2 and not trained
    assert "t 20261101 at line 2 and 55 more reads as the date 2026-11-01 written as YYYYMMDD" in err
    assert "not as epoch seconds (as such it is 1970-08-23T12:05:01Z)" in err
    assert "write each row's time as epoch seconds or as an ISO-8601 time, YYYY-MM-DDThh:mm" in err


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ("%Y%m%d%H%M%S", "2026-11-29T10:35:00 written as YYYYMMDDhhmmss"),
        ("%Y%m%d%H%M", "10:35:00 written as YYYYMMDDhhmm"),
    ],
)
@pytest.mark.parametrize("name", ["history.csv", "history.parquet"])
def test_dates_and_times_typed_as_numbers_are_refused_as_such_not_as_milliseconds(
    plant, tmp_path: Path, capsys, trained, form: str, said: str, name: str
) -> None:
    # Before, 20261129101500 was refused as "past the year 5138 in epoch seconds: epoch milliseconds?
    # divide by 1000", which gives a time in the year 2612.
    typed = pd.to_datetime(plant["t"], unit="s").dt.strftime(form).astype("int64")
    code, err = _train(tmp_path, plant.assign(t=typed), capsys, name)
    assert code == 2 and not trained
    assert f"{said}, not as epoch seconds" in err and "milliseconds" not in err
    assert "(as such it lies past the year 5138)" in err


def test_epoch_seconds_and_iso_times_that_are_such_digits_by_chance_still_train(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # A clock counting from 0 (simulate --history writes one) passes through such digits, as
    # 20000120 s; an ISO-8601 time whose epoch seconds are 20261129 is written as a time: both train.
    iso = pd.to_datetime(plant["t"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    mixed = iso.where(np.arange(len(plant)) != 3, "1970-08-23T12:05:29Z")
    for t in (plant["t"], plant["t"] - T0 + 19_998_920, mixed):
        code, err = _train(tmp_path, plant.assign(t=t), capsys)
        assert (code, err.strip()) == (2, "models train: refused: training stopped by the test")
    assert 20000120.0 in set(trained[1]["t"])  # 2000-01-20 typed as a number, or 1970-08-21
    assert 20261129.0 in set(trained[2]["t"])
