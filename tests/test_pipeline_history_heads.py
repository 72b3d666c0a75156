"""`models train HISTORY` on a CSV whose first bytes are not what the history contract asks for: UTF-16
or UTF-32 text, Excel's separator line, no header row. Refused (exit 2) saying what the file is and
what to do, before any training, with the checks ``dhag`` makes of its own CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.simulator.fleet import Fleet

T0 = 1_772_323_200  # 2026-03-01T00:00:00Z


@pytest.fixture(scope="module")
def plant() -> pd.DataFrame:
    """An hour of two assets, one reading every 60 s, t in epoch seconds."""
    frame = Fleet(2, seed=3, run=0).run(3600, 60).drop(columns=["fault", "recovering"])
    return frame.assign(t=frame["t"] + T0)


@pytest.fixture(autouse=True)
def untrained(monkeypatch) -> None:
    def train(*_: object, **__: object) -> None:
        pytest.fail("trained anyway")

    monkeypatch.setattr("pipeline.plantmodel.train_plant_model", train)


def _refusal(path: Path, capsys) -> str:
    """What ``models train`` says of ``path``, which it must refuse with exit 2."""
    code = main(["models", "--registry", str(path.parent / "registry"), "train", str(path)])
    assert code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("encoding", "said"),
    [
        ("utf-16", "UTF-16 (it starts with UTF-16's byte-order mark, bytes 0xff 0xfe)"),
        ("utf-16-le", "UTF-16 (without a byte-order mark"),
        ("utf-32", "UTF-32 (it starts with UTF-32's byte-order mark"),
        ("utf-32-be", "UTF-32 (without a byte-order mark"),
    ],
)
def test_utf16_and_utf32_text_is_refused_naming_its_encoding(
    plant, tmp_path: Path, capsys, encoding: str, said: str
) -> None:
    # Before, with a byte-order mark: only "it is not UTF-8 text"; without one, the NUL bytes were read
    # as UTF-8: "it lacks the column(s) asset_id, t, ... (it has: 't\x00', ...)".
    path = tmp_path / "history.csv"
    plant.to_csv(path, index=False, encoding=encoding)
    err = _refusal(path, capsys)
    assert f"it is not UTF-8 text but {said}" in err and "save it as UTF-8" in err
    assert "lacks the column" not in err


@pytest.mark.parametrize("sep", [";", ",", "\t"])
def test_excels_separator_line_is_refused_saying_to_delete_it(
    plant, tmp_path: Path, capsys, sep: str
) -> None:
    # Before: "cannot read it as CSV (';' between fields): line 2 has 16 fields, more than the 2 of its
    # header", and for sep=, "... the 1 of its header", with the advice on quotes and decimal points.
    path = tmp_path / "history.csv"
    path.write_text(f"sep={sep}\n" + plant.to_csv(index=False, sep=sep))
    err = _refusal(path, capsys)
    assert f"its first line, {f'sep={sep}'!r}, is Excel's line naming the separator, not a header" in err
    assert err.rstrip().endswith("delete that line") and "fields" not in err


def test_excels_separator_line_naming_another_separator_says_which_to_write(
    plant, tmp_path: Path, capsys
) -> None:
    # Before: "it lacks the column(s) asset_id, t, ... (it has: 'sep=|')".
    path = tmp_path / "history.csv"
    path.write_text("sep=|\n" + plant.to_csv(index=False, sep="|"))
    err = _refusal(path, capsys)
    assert "its first line, 'sep=|', is Excel's line naming the separator, not a header" in err
    assert "delete that line: its fields are separated by '|'; write the file with ',' between fields" in err


@pytest.mark.parametrize(("iso", "numbers"), [(False, 12), (True, 11)])
def test_a_history_without_its_header_row_is_refused_asking_whether_it_is_missing(
    plant, tmp_path: Path, capsys, iso: bool, numbers: int
) -> None:
    # Before: only "it lacks the column(s) asset_id, t, ... (it has: '1772323260.0', 'pump-01', ...)".
    if iso:
        plant = plant.assign(
            t=pd.to_datetime(plant["t"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    path = tmp_path / "history.csv"
    plant.to_csv(path, index=False, header=False)
    err = _refusal(path, capsys)
    assert "it lacks the column(s) asset_id, t, speed_rpm" in err and "'pump-01'" in err
    assert err.rstrip().endswith(
        f": its first line holds values, not column names ({numbers} of its 16 fields are numbers): is its "
        "header row missing? Add a first line naming the columns: asset_id, t and each sensor named above"
    )


def test_a_header_of_other_names_is_not_taken_for_readings(plant, tmp_path: Path, capsys) -> None:
    path = tmp_path / "history.csv"
    plant.rename(columns=lambda name: name.upper().replace("_", " ") + " (1)").to_csv(path, index=False)
    assert "header row missing?" not in _refusal(path, capsys)
