"""A CSV another separator splits, as a spreadsheet set to a European locale exports it (';' between
fields, ',' as the decimal mark): ``dhag train`` and ``dhag score`` refuse it saying so and how to
write it, never reading it as one column of text."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from dhag import InputError
from dhag.cli import main
from dhag.io import read_table

_EXPORT = "write the file with ',' between fields and '.' as the decimal mark"


@pytest.mark.parametrize(
    ("text", "sep", "shown"),
    [
        ("flow;temp\n1,5;20,1\n", ";", "'1,5' at line 2"),  # every row wider, read with ','
        ("flow;temp\n1,5;20\n", ";", "'1,5' at line 2"),
        ("flow\ttemp\n1\t20,1\n", "\t", "'20,1' at line 2"),
        ("flow;temp\n1;2\n3;4\n1,5;3\n", ";", "'1,5' at line 4"),  # only a later row
    ],
)
def test_a_file_separated_otherwise_with_decimal_commas_is_refused_saying_both(
    tmp_path: Path, text: str, sep: str, shown: str
) -> None:
    # Before, pandas' tokenizer error ("Expected 1 fields in line 2, saw 3") with a question: "is the
    # separator not ',', or a decimal mark a comma?"; a comma in a later row only went unsaid.
    path = tmp_path / "export.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_table(path)
    said = str(info.value)
    assert said.startswith(
        f"Cannot read {str(path)!r}: its header and rows are separated by {sep!r}, with ',' as the "
        f"decimal mark ({shown})"
    )
    assert _EXPORT in said and f"sep={sep!r}, decimal=','" in said
    assert "Expected" not in said and "\n" not in said


@pytest.mark.parametrize("command", ["train", "score"])
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("flow;temp\n1,5;20,1\n", "separated by ';', with ',' as the decimal mark ('1,5' at line 2)"),
        ("flow;temp\n1.5;20.1\n", "separated by ';'; dhag reads comma-separated values"),
    ],
)
def test_train_and_score_refuse_a_semicolon_file_naming_its_separator(
    tmp_path: Path, saved: Path, capsys, command: str, text: str, says: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(text)
    if command == "train":
        argv = ["train", "--data", str(path), "--out", str(tmp_path / "m.dhag")]
    else:
        argv = ["score", "--model", str(saved), "--data", str(path), "--out", str(tmp_path / "s.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(re.escape(says), err), err
    assert not (tmp_path / "m.dhag").exists() and not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize(("sep", "shown"), [(";", "';'"), ("\t", "'\\t'"), ("|", "'|'")])
def test_a_file_separated_otherwise_is_said_how_to_convert_it_with_pandas(
    tmp_path: Path, sep: str, shown: str
) -> None:
    # Before, only a file with decimal commas was said the line of pandas that converts it.
    path = tmp_path / "export.csv"
    path.write_text(f"flow{sep}temp\n1.5{sep}20.1\n2{sep}21\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    said = str(info.value)
    assert said.endswith(
        "write the file with ',' between fields, or convert it with pandas: "
        f"pd.read_csv(path, sep={shown}).to_csv(new_path, index=False)."
    )
    converted = tmp_path / "converted.csv"
    pd.read_csv(path, sep=sep).to_csv(converted, index=False)  # the line said, as said
    frame, _ = read_table(converted)
    assert list(frame.columns) == ["flow", "temp"] and frame["temp"].tolist() == [20.1, 21.0]
