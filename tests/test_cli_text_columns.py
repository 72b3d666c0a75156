"""``dhag train`` on a file with several columns of text, declared neither categorical nor ids: one
refusal names them all and the options that declare them."""

from __future__ import annotations

from pathlib import Path

from dhag.cli import main


def _readings(folder: Path) -> Path:
    path = folder / "readings.csv"
    rows = [
        f"2026-01-01 {i // 60:02d}:{i % 60:02d},pump-{i % 2},{50 + i % 7},{['north', 'south'][i % 2]},"
        f"{'ok' if i % 9 else 'check'}\n"
        for i in range(600)
    ]
    path.write_text("ts,asset,flow,zone,note\n" + "".join(rows))
    return path


def _train(data: Path, folder: Path, capsys, *options: str) -> str:
    assert main(["train", "--data", str(data), "--out", str(folder / "m.dhag"), "--quiet", *options]) == 2
    assert not (folder / "m.dhag").exists()
    return capsys.readouterr().err


def test_every_text_column_is_named_in_one_refusal_with_the_options_for_them(tmp_path: Path, capsys) -> None:
    # Each was refused alone, the next named only once the first was declared: four runs to learn what
    # the file needed.
    said = _train(_readings(tmp_path), tmp_path, capsys)
    assert said == (
        "dhag train: error: Columns 'ts', 'asset', 'zone' and 'note' hold text, and a feature must hold "
        "numbers: 'ts' (times, as '2026-01-01 00:00'), 'asset' (as 'pump-0'), 'zone' (as 'north'), 'note' "
        "(as 'check'). Declare the columns of categories with --categorical and leave out those that "
        "identify rows, and times, with --id-columns; judging by their values: --id-columns ts "
        "--categorical asset,zone,note.\n"
    )


def test_the_options_offered_keep_the_columns_already_declared(tmp_path: Path, capsys) -> None:
    # Given twice, an option keeps its last list: what is offered must hold the first one's columns.
    said = _train(_readings(tmp_path), tmp_path, capsys, "--categorical", "zone", "--id-columns", "asset")
    assert said.endswith("judging by their values: --id-columns asset,ts --categorical zone,note.\n")


def test_one_text_column_left_is_refused_as_fit_refuses_it(tmp_path: Path, capsys) -> None:
    declared = ["--id-columns", "ts,asset", "--categorical", "zone"]
    said = _train(_readings(tmp_path), tmp_path, capsys, *declared)
    assert said.startswith("dhag train: error: Feature 'note' must be numeric (bool, int or float). Got ")
    assert "dhag train --categorical note" in said


def test_a_column_of_numbers_with_a_few_words_is_no_text_column(tmp_path: Path, capsys) -> None:
    data = tmp_path / "broken.csv"
    cells = [("broken" if i == 7 else str(i), "n/a?" if i == 9 else str(i % 5)) for i in range(200)]
    rows = [f"{a},{b},{['x', 'y'][i % 2]}\n" for i, (a, b) in enumerate(cells)]
    data.write_text("a,b,zone\n" + "".join(rows))
    said = _train(data, tmp_path, capsys, "--categorical", "zone")
    # Fit names its bad cells: 'broken' is no column of words to declare.
    assert said.startswith("dhag train: error: Feature 'a' must be numeric (bool, int or float). Got 'broken")
