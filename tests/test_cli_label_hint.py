"""``dhag train`` and a column that reads like the rows' label but is trained on as a feature."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dhag import load_model
from dhag.cli import main


def _csv(folder: Path, column: str, values: list[str]) -> Path:
    path = folder / "marked.csv"
    rows = [f"{i},{i % 7},{values[i % len(values)]}\n" for i in range(200)]
    path.write_text(f"a,b,{column}\n" + "".join(rows))
    return path


def _train(data: Path, folder: Path, *options: str) -> None:
    argv = ["train", "--data", str(data), "--out", str(folder / "m.dhag"), "--device", "cpu"]
    assert main([*argv, "--max-epochs", "1", "--quiet", *options]) == 0


def _hints(caplog) -> list[str]:
    said = [r.getMessage() for r in caplog.records if r.name == "dhag"]
    return [m for m in said if "named as a label" in m]


@pytest.mark.parametrize("column", ["outlier", "Is_Anomaly", "label"])
def test_a_zero_one_column_named_as_a_label_is_warned_of_naming_the_option(
    tmp_path: Path, caplog, column: str
) -> None:
    # Trained on as a sensor, the mark of the known anomalies made the model flag them for the mark
    # alone, and nothing said so.
    data = _csv(tmp_path, column, ["0"] * 19 + ["1"])
    with caplog.at_level(logging.WARNING, logger="dhag"):
        _train(data, tmp_path)
    (hint,) = _hints(caplog)
    assert f"column {column!r} holds only 0 and 1" in hint
    assert f"--label-column {column}" in hint
    assert column in load_model(tmp_path / "m.dhag").feature_names_in_  # a warning: trained as before


@pytest.mark.parametrize(
    ("column", "values", "options"),
    [
        ("outlier", ["0"] * 19 + ["1"], ("--label-column", "outlier")),  # it is the label
        ("outlier", ["0"] * 19 + ["1"], ("--passthrough", "outlier")),  # declared a feature
        ("valve_open", ["0", "1"], ()),  # a 0/1 sensor under its own name
        ("class", ["1", "2", "3"], ()),  # more than two values: a measured class, not a mark
        ("outlier", ["0"], ()),  # all 0: nothing marked, nothing learned from it
    ],
)
def test_no_warning_for_the_label_itself_a_declared_feature_or_other_columns(
    tmp_path: Path, caplog, column: str, values: list[str], options: tuple[str, ...]
) -> None:
    data = _csv(tmp_path, column, values)
    with caplog.at_level(logging.WARNING, logger="dhag"):
        _train(data, tmp_path, *options)
    assert _hints(caplog) == []
