"""`models train HISTORY` on the histories real exports produce: each trains on what the file means, or
is refused (exit 2) naming the column, the line and what to do, before any training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline import registry
from pipeline.cli import main
from pipeline.features import INPUT_SENSORS
from pipeline.recordjson import parse_timestamp
from pipeline.simulator.fleet import Fleet

T0 = 1_772_323_200  # 2026-03-01T00:00:00Z


@pytest.fixture(scope="module")
def plant() -> pd.DataFrame:
    """Two hours of two assets, one reading every 60 s, t in epoch seconds, as an export has it."""
    frame = Fleet(2, seed=3, run=0).run(7200, 60).drop(columns=["fault", "recovering"])
    return frame.assign(t=frame["t"] + T0)


class Trained:
    """Stands in for the training: keeps the history it was given and stops the command there."""

    def __init__(self) -> None:
        self.history: pd.DataFrame | None = None

    def __call__(self, history: pd.DataFrame, **_: Any) -> None:
        self.history = history.copy()
        raise ValueError("training stopped by the test")


@pytest.fixture
def trained(monkeypatch) -> Trained:
    fake = Trained()
    monkeypatch.setattr("pipeline.plantmodel.train_plant_model", fake)
    return fake


def _train(path: Path, capsys, *more: str) -> tuple[int, str]:
    """The exit code and stderr, less the advice to train on more hours than these short histories hold
    (tests/test_pipeline_history_coverage.py checks it)."""
    code = main(["models", "--registry", str(path.parent / "registry"), "train", str(path), *more])
    err = capsys.readouterr().err.splitlines(keepends=True)
    return code, "".join(line for line in err if not line.startswith("models train: the history covers"))


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "history.csv", **options: Any) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False, **options)
    return path


def test_epoch_milliseconds_are_refused_naming_the_line(plant, tmp_path: Path, capsys, trained) -> None:
    # Before, t in milliseconds trained and published a reference sample dated in the year 57,000.
    path = _csv(tmp_path, plant.assign(t=plant["t"] * 1000))
    code, err = _train(path, capsys)
    assert code == 2 and trained.history is None
    assert "t 1.77232e+12 at line 2 and 239 more" in err and "epoch milliseconds?" in err
    assert "divide by 1000" in err


def test_iso_times_with_an_offset_or_none_are_utc_epoch_seconds(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, ISO-8601 times trained for the whole budget, then were refused with "could not convert
    # string to float" and no column named.
    stamps = pd.to_datetime(plant["t"], unit="s", utc=True)
    local = stamps.dt.tz_convert("Europe/Berlin").dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    naive = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
    iso = local.where(np.arange(len(plant)) % 2 == 0, naive)
    code, err = _train(_csv(tmp_path, plant.assign(t=iso)), capsys)
    assert (code, err.strip()) == (2, "models train: refused: training stopped by the test")
    assert trained.history["t"].tolist() == plant["t"].astype(float).tolist()
    assert trained.history["t"].iloc[0] == T0 + 60
    bad = plant.assign(t=iso.where(np.arange(len(plant)) != 5, "03/01/2026 00:06"))
    code, err = _train(_csv(tmp_path, bad, "bad.csv"), capsys)
    assert code == 2 and "t '03/01/2026 00:06' at line 7 is neither epoch seconds nor an ISO-8601" in err
    # A ';' file from a spreadsheet set to decimal commas: the first column it stops at is t.
    path = _csv(tmp_path, plant.assign(t=plant["t"] + 0.5), "comma.csv", sep=";", decimal=",")
    code, err = _train(path, capsys)
    assert code == 2 and f"t '{T0 + 60},5' at line 2 and 239 more is neither" in err
    assert "'.' as the decimal point" in err


def test_epoch_seconds_and_iso_times_in_one_column_are_each_read_and_only_bad_ones_counted(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, a column mixing the two forms (exports of two systems joined) was refused, every epoch
    # second among ISO times named as "neither epoch seconds nor an ISO-8601 time", and one bad date
    # among epoch seconds was said to be at "line 2 and 239 more".
    iso = pd.to_datetime(plant["t"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    mixed = plant["t"].astype(str).where(np.arange(len(plant)) % 3 != 0, iso)
    code, err = _train(_csv(tmp_path, plant.assign(t=mixed)), capsys)
    assert (code, err.strip()) == (2, "models train: refused: training stopped by the test")
    assert trained.history["t"].tolist() == plant["t"].astype(float).tolist()
    bad = plant["t"].astype(str).where(~np.isin(np.arange(len(plant)), [4, 9]), "03/01/2026")
    code, err = _train(_csv(tmp_path, plant.assign(t=bad), "bad.csv"), capsys)
    assert code == 2 and "t '03/01/2026' at line 6 and 1 more is neither epoch seconds nor" in err


def test_a_parquet_timestamp_column_is_epoch_seconds(plant, tmp_path: Path, capsys, trained) -> None:
    # Before, a timestamp column was read as microseconds (or nanoseconds) since 1970, as seconds.
    for stamps in (
        pd.to_datetime(plant["t"], unit="s"),
        pd.to_datetime(plant["t"], unit="s", utc=True).dt.tz_convert("America/New_York"),
    ):
        path = tmp_path / "history.parquet"
        plant.assign(t=stamps).to_parquet(path, index=False)
        assert _train(path, capsys)[0] == 2
        assert trained.history["t"].tolist() == plant["t"].astype(float).tolist()


def test_rows_in_any_order_train_in_time_order_and_a_repeated_row_counts_once(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, rows trained in file order, so the threshold was calibrated on scattered rows whose
    # neighbours it had trained on, and a repeated export window trained twice.
    messy = pd.concat([plant, plant.iloc[:30]]).sample(frac=1.0, random_state=1)
    code, err = _train(_csv(tmp_path, messy), capsys)
    assert code == 2 and "models train: kept one of each of 30 repeated rows" in err
    got = trained.history
    assert got["t"].is_monotonic_increasing and len(got) == len(plant)
    expected = plant.sort_values(["t", "asset_id"]).reset_index(drop=True)
    assert (
        got.sort_values(["t", "asset_id"])
        .reset_index(drop=True)[list(INPUT_SENSORS)]
        .equals(expected[list(INPUT_SENSORS)].astype(float))
    )


def test_two_different_readings_of_one_asset_at_one_time_are_refused(
    plant, tmp_path: Path, capsys, trained
) -> None:
    twice = plant.iloc[[4]].assign(flow_m3h=plant["flow_m3h"].iloc[4] + 1.0)
    code, err = _train(_csv(tmp_path, pd.concat([plant, twice])), capsys)
    assert code == 2 and trained.history is None
    asset = plant["asset_id"].iloc[4]
    assert f"asset {asset!r} has different readings at one time, t={T0 + 180}" in err
    assert "line 6 and 1 more" in err and "export UTC" in err


def test_an_asset_without_a_sensor_is_refused_and_rows_left_out_are_said(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, every row of that asset was dropped in silence: the model had no reference for it, and
    # the daemon scaled its readings by the fleet's median. Rows with one gap were dropped unsaid.
    first = plant["asset_id"].iloc[0]
    no_power = plant.assign(motor_power_kw=plant["motor_power_kw"].where(plant["asset_id"] != first))
    code, err = _train(_csv(tmp_path, no_power), capsys)
    assert code == 2 and trained.history is None
    assert f"1 asset(s) have no row with every sensor: {first!r} ({first!r} lacks motor_power_kw)" in err
    sparse = plant.assign(vibration_mm_s=plant["vibration_mm_s"].where(np.arange(len(plant)) % 8 < 2))
    code, err = _train(_csv(tmp_path, sparse), capsys)
    assert "left out 180 of 240 rows with a missing sensor value (most often vibration_mm_s" in err
    assert "2 asset(s) have fewer than 100 complete rows taken running" in err and len(trained.history) == 60


def test_text_in_a_sensor_column_is_a_missing_value_or_is_refused_naming_column_and_line(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before: "could not convert string to float: '1,234.5'", naming no column and no line.
    flow = plant["flow_m3h"].astype(object)
    markers = flow.where(np.arange(len(plant)) % 10 != 3, "N/A").where(np.arange(len(plant)) != 9, "")
    assert _train(_csv(tmp_path, plant.assign(flow_m3h=markers)), capsys)[0] == 2
    assert len(trained.history) == 240 - 25
    for value, hint in (("1,234.5", "'.' as the decimal point"), ("broken", "leave a missing value's")):
        bad = plant.assign(flow_m3h=flow.where(np.arange(len(plant)) != 6, value))
        code, err = _train(_csv(tmp_path, bad), capsys)
        assert code == 2 and f"flow_m3h holds {value!r} at line 8, not a number: " in err and hint in err


def test_column_names_in_any_case_with_spaces_a_bom_or_semicolons_are_read(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, each of these was refused as lacking columns it had (or read them as one column).
    renamed = plant.rename(columns={"flow_m3h": " Flow_M3H ", "t": "T"}).assign(site="north", unit="m3/h")
    for frame, options in ((renamed, {}), (plant, {"sep": ";"}), (plant, {"encoding": "utf-8-sig"})):
        code, err = _train(_csv(tmp_path, frame, **options), capsys)
        assert (code, err.strip()) == (2, "models train: refused: training stopped by the test")
        assert trained.history["flow_m3h"].tolist() == plant["flow_m3h"].tolist()
    doubled = plant.assign(FLOW_M3H=plant["flow_m3h"])
    code, err = _train(_csv(tmp_path, doubled), capsys)
    assert code == 2 and "the columns 'flow_m3h' and 'FLOW_M3H' both name flow_m3h: keep one" in err


def test_asset_ids_are_text_as_written_and_an_empty_one_is_refused(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, ids "007" and "008" were read as the numbers 7 and 8: a record's "007" matched no asset.
    ids = dict(zip(plant["asset_id"].unique(), ["007", "008"], strict=True))
    numbered = plant.assign(asset_id=plant["asset_id"].map(ids))
    assert _train(_csv(tmp_path, numbered), capsys)[0] == 2
    assert sorted(set(trained.history["asset_id"])) == ["007", "008"]
    blank = plant.assign(asset_id=plant["asset_id"].where(np.arange(len(plant)) != 11, ""))
    code, err = _train(_csv(tmp_path, blank), capsys)
    assert code == 2 and "asset_id is empty at line 13: every row names its asset" in err


def test_a_numeric_fault_column_leaves_out_its_nonzero_rows(plant, tmp_path: Path, capsys, trained) -> None:
    # Before, a 0/1 fault column left out every row, and the refusal spoke of "references".
    marked = plant.assign(fault=(np.arange(len(plant)) < 40).astype(int))
    code, err = _train(_csv(tmp_path, marked), capsys)
    assert code == 2 and "left out 40 rows marked in the fault column" in err
    assert len(trained.history) == 200


def test_a_file_with_no_rows_or_a_row_wider_than_its_header_is_refused(
    plant, tmp_path: Path, capsys, trained
) -> None:
    code, err = _train(_csv(tmp_path, plant.iloc[:0]), capsys)
    assert code == 2 and "history.csv': it holds no rows" in err
    path = _csv(tmp_path, plant)
    lines = path.read_text().splitlines()
    lines[3] += ",surplus"
    path.write_text("\n".join(lines) + "\n")
    code, err = _train(path, capsys)
    assert code == 2 and "cannot read it as CSV (',' between fields)" in err
    assert "Expected 16 fields in line 4, saw 17: a ',' inside a field must be quoted" in err
    assert trained.history is None


def test_a_header_field_over_the_csv_module_s_limit_is_refused_not_a_traceback(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, a header line with a field over 128 KiB stopped the command with a traceback of
    # "_csv.Error: field larger than field limit (131072)".
    path = _csv(tmp_path, plant.assign(note="x"))
    path.write_text(path.read_text().replace("note", "n" * 200_000, 1))
    code, err = _train(path, capsys)
    assert code == 2 and trained.history is None
    assert "history.csv': cannot read it as CSV: its header line (line 1) holds a field of more than" in err
    assert "Traceback" not in err


def test_an_iso_time_history_trains_and_its_reference_sample_is_dated_in_epoch_seconds(
    plant, tmp_path: Path, capsys
) -> None:
    iso = pd.to_datetime(plant["t"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = _csv(tmp_path, plant.assign(t=iso).iloc[::-1])
    assert _train(path, capsys, "--time-budget", "5", "--version", "v1")[0] == 0
    reference = registry.load_reference(tmp_path / "registry", "v1")
    assert [r[1] for r in reference] == sorted(plant["t"].astype(float).tolist())


def test_a_sensor_whose_median_is_zero_is_refused_naming_the_asset(plant, tmp_path: Path, capsys) -> None:
    # Before: "Feature 'suction_pu' has 120 NaN or infinite value(s)", naming neither asset nor sensor.
    first = plant["asset_id"].iloc[0]
    at_zero = plant.assign(
        suction_pressure_bar=plant["suction_pressure_bar"].where(plant["asset_id"] != first, 0.0)
    )
    code, err = _train(_csv(tmp_path, at_zero), capsys, "--time-budget", "5")
    assert code == 2
    assert f"asset {first!r}: the median of suction_pressure_bar over its running readings is 0" in err


def test_numeric_asset_ids_train_on_their_own_references(plant, caplog) -> None:
    # Before, ids given as numbers were looked up as numbers among references kept as text: every row
    # was scaled by the fleet's median, not by its own asset's.
    from pipeline.plantmodel import train_plant_model

    numbered = plant.assign(
        asset_id=plant["asset_id"].map({a: i for i, a in enumerate(plant["asset_id"].unique())})
    )
    with caplog.at_level("WARNING", logger="pipeline.features"):
        model = train_plant_model(numbered, max_epochs=2, time_budget=5)
    assert sorted(model.metadata_["plant_features"]["references"]) == ["0", "1"]
    assert "not in the model's references" not in caplog.text


def test_asset_ids_the_daemon_would_refuse_are_refused_before_training(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before: "pump 7" trained and got its per-asset reference, but every live record of that id goes
    # to the dead-letter topic (bad_asset_id), so the model was trained for an asset it never scores.
    first = plant["asset_id"].iloc[0]
    path = _csv(tmp_path, plant.assign(asset_id=plant["asset_id"].replace({first: "pump 7"})))
    code, err = _train(path, capsys)
    assert code == 2 and trained.history is None
    assert "'pump 7'" in err and "records.asset_id_pattern" in err


def _lines(path: Path) -> list[str]:
    """The file's physical lines as a text editor counts them, each with its line break."""
    with path.open(newline="") as f:
        return f.read().splitlines(keepends=True)


def test_refusals_name_the_physical_line_past_line_breaks_in_quoted_fields_and_blank_lines(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # A comment column may hold line breaks inside its quotes (CSV allows them) and an export may have
    # blank lines: the line named is the one a text editor shows, where the row's record starts. Before,
    # it was the row's count plus 2 (line 8 here).
    notes = pd.Series([""] * len(plant), dtype=object)
    notes[1] = "seal replaced\nrecheck in a week"
    notes[3] = "note\r\non two lines\nor three"
    flow = plant["flow_m3h"].astype(object).where(plant.index != 6, "broken")
    path = _csv(tmp_path, plant.assign(note=notes, flow_m3h=flow))
    lines = _lines(path)
    path.write_bytes("".join([*lines[:8], "\n", *lines[8:]]).encode())  # a blank line after row 3
    lines = _lines(path)
    assert lines[11].startswith(f"{plant['t'].iloc[6]},") and lines[8] == "\n"
    code, err = _train(path, capsys)
    assert code == 2 and "flow_m3h holds 'broken' at line 12, not a number" in err
    # pandas's own message for a row wider than its header is put right too (it said line 11).
    lines[13] = lines[13].replace("\n", ",surplus\n")
    path.write_bytes("".join(lines).encode())
    code, err = _train(path, capsys)
    assert code == 2 and "Expected 17 fields in line 14, saw 18" in err


def _decimal_commas(frame: pd.DataFrame) -> str:
    """``frame`` as a CSV with ',' between fields and, unquoted, a ',' as each number's decimal point."""
    rows = frame.to_csv(index=False, float_format="%.2f").splitlines()
    return "\n".join([rows[0], *(row.replace(".", ",") for row in rows[1:]), ""])


def test_decimal_commas_in_a_comma_separated_file_are_refused_saying_to_export_a_decimal_point(
    plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, such a file trained: pandas kept each row's first fields as wide as the header (with a
    # warning only), so flow_m3h held the decimals of speed_rpm, and so on.
    sensors = plant[["asset_id", "t", *INPUT_SENSORS]]
    path = tmp_path / "history.csv"
    path.write_text(_decimal_commas(sensors))
    code, err = _train(path, capsys)
    assert code == 2 and trained.history is None
    width = len(path.read_text().splitlines()[1].split(","))
    assert f"cannot read it as CSV (',' between fields): line 2 has {width} fields, more than the 12" in err
    assert "numbers need '.' as the decimal point (12.5, not 12,5)" in err
    # From the second row on, pandas refuses the row itself: the same advice follows its message.
    path.write_text(
        sensors.iloc[:1].to_csv(index=False) + _decimal_commas(sensors.iloc[1:]).split("\n", 1)[1]
    )
    code, err = _train(path, capsys)
    assert code == 2 and "Expected 12 fields in line 3, saw" in err and "(12.5, not 12,5)" in err
    # A trailing ',' on every row but the header is no wider row: it trains.
    rows = sensors.to_csv(index=False).splitlines()
    path.write_text("\n".join([rows[0], *(row + "," for row in rows[1:]), ""]))
    assert _train(path, capsys) == (2, "models train: refused: training stopped by the test\n")
    assert trained.history["flow_m3h"].tolist() == plant["flow_m3h"].tolist()


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ("2026-03-01", "is an ISO-8601 form not taken (a date alone, a basic, week or ordinal date)"),
        ("2026-W09-7", "is an ISO-8601 form not taken"),
        ("20260301T000600Z", "is an ISO-8601 form not taken"),
        ("2026-03-01T00", "is an ISO-8601 form not taken"),
        ("2026-03", "is neither epoch seconds nor an ISO-8601 time"),
    ],
    ids=["a date alone", "a week date", "the basic form", "an hour alone", "a month"],
)
def test_t_in_an_iso_form_a_record_is_refused_in_is_refused_naming_the_forms_taken(
    form: str, said: str, plant, tmp_path: Path, capsys, trained
) -> None:
    # Before, t read a date alone, a month, the basic form or an hour without minutes as midnight (or
    # the hour), as a record's ts is no longer read, and trained on it; a week date was "neither epoch
    # seconds nor an ISO-8601 time", not saying which forms are.
    iso = pd.to_datetime(plant["t"], unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    code, err = _train(_csv(tmp_path, plant.assign(t=iso.where(np.arange(len(plant)) != 5, form))), capsys)
    assert code == 2 and trained.history is None
    assert f"t '{form}' at line 7 {said}" in err
    assert "write YYYY-MM-DDThh:mm[:ss[.fff]] with Z, ±hh:mm or no offset (UTC)" in err


def test_t_takes_each_iso_form_a_record_takes_and_reads_it_as_a_record_does(
    plant, tmp_path: Path, capsys, trained
) -> None:
    stamps = pd.to_datetime(plant["t"], unit="s", utc=True)
    forms = [
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        stamps.dt.tz_convert("Europe/Berlin").dt.strftime("%Y-%m-%d %H:%M+01:00"),
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.000"),
        stamps.dt.tz_convert("Asia/Kolkata").dt.strftime("%Y-%m-%dT%H:%M:%S.0+05:30"),
        stamps.dt.strftime("%Y-%m-%dT%H:%MZ"),
    ]
    t = pd.concat(forms, axis=1).to_numpy()[np.arange(len(plant)), np.arange(len(plant)) % len(forms)]
    code, err = _train(_csv(tmp_path, plant.assign(t=t)), capsys)
    assert (code, err.strip()) == (2, "models train: refused: training stopped by the test")
    assert sorted(trained.history["t"]) == sorted(map(parse_timestamp, t)) == sorted(plant["t"].astype(float))
