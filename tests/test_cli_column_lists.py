"""The options that name columns (``train --id-columns``, ``--categorical``, ``--passthrough``, ``score
--id-columns``) take names separated by commas, a name holding a comma or a space at either end in
double quotes; and the option a refusal suggests for a column reads back as that column."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhag import load_model
from dhag.cli import build_parser, main
from dhag.infotext import suggested_option

# Where each option is read: the command, and the name its value is kept under.
OPTIONS = [
    ("train", "--id-columns", "id_columns"),
    ("train", "--categorical", "categorical"),
    ("train", "--passthrough", "passthrough"),
    ("score", "--id-columns", "id_columns"),
]
REQUIRED = {
    "train": ["--data", "d.csv", "--out", "m.dhag"],
    "score": ["--model", "m.dhag", "--data", "d.csv"],
}
HOSTILE = [
    "zone, site",
    "a,b",
    ",",
    " zone",
    "zone ",
    " ",
    '"quoted"',
    ' "quoted, twice" ',
    'say "hi"',
    "it's, $(date)",
    "-x",
    "-a,b",
    "--help",
    "--",
    "débit, m3/h",
]


def _read_back(command: str, dest: str, words: list[str]) -> object:
    return getattr(build_parser().parse_args([command, *REQUIRED[command], *words]), dest)


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize(("command", "option", "dest"), OPTIONS, ids=lambda v: v)
def test_the_suggested_option_split_by_a_shell_reads_back_as_the_column(
    command: str, option: str, dest: str, name: str
) -> None:
    # Before, the suggestion held the name as one comma list item: 'zone, site' was read back as the
    # columns 'zone' and 'site', ' zone' as 'zone', and no option could name either column.
    suggestion = suggested_option(option, name)
    assert _read_back(command, dest, shlex.split(suggestion)) == [name], suggestion


@given(st.text(min_size=1).filter(str.isprintable))
def test_any_printable_name_reads_back_from_its_suggestion(name: str) -> None:
    for command, option, dest in OPTIONS:
        assert _read_back(command, dest, shlex.split(suggested_option(option, name))) == [name]


def test_the_label_column_is_one_name_as_it_is() -> None:
    args = build_parser().parse_args(
        ["train", *REQUIRED["train"], *shlex.split(suggested_option("--label-column", "a, b"))]
    )
    assert args.label_column == "a, b"


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("a,b", ["a", "b"]),
        (" kdd, ,thyroid ", ["kdd", "thyroid"]),
        ('"zone, site", flow', ["zone, site", "flow"]),
        ('flow , " zone" ,"say ""hi"""', ["flow", " zone", 'say "hi"']),
        ('say "hi", b', ['say "hi"', "b"]),
    ],
)
def test_a_comma_list_is_read_as_before_and_a_quoted_name_whole(value: str, names: list[str]) -> None:
    for command, option, dest in OPTIONS:
        assert _read_back(command, dest, [f"{option}={value}"]) == names


@pytest.mark.parametrize(
    ("value", "said"), [('"zone', "not closed"), ('"zone" site', "follows the closing quote")]
)
def test_a_quote_left_open_or_followed_by_more_is_refused_naming_the_option(
    capsys, value: str, said: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", *REQUIRED["train"], "--categorical", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --categorical" in err and said in err


@pytest.mark.parametrize(("command", "option", "dest"), OPTIONS)
def test_a_column_named_twice_is_refused_naming_the_option(
    tmp_path: Path, capsys, command: str, option: str, dest: str
) -> None:
    # train and score --id-columns asset,asset ended in a traceback (KeyError: 'asset', the column taken
    # out of the rows once already); --categorical and --passthrough took the second name for nothing.
    for value in ("asset,asset", 'asset, "asset"'):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([command, *REQUIRED[command], option, value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}: 'asset' is named more than once; name each column once" in err
    data = tmp_path / "rows.csv"
    data.write_text("asset,flow\n" + "".join(f"p{i % 3},{i % 7}\n" for i in range(100)))
    model = tmp_path / "m.dhag"
    argv = ["--data", str(data), "--id-columns", "asset,asset"]
    with pytest.raises(SystemExit) as exit_:
        main(["train", *argv, "--out", str(model), "--max-epochs", "1", "--quiet"])
    assert exit_.value.code == 2 and not model.exists()
    assert "'asset' is named more than once" in capsys.readouterr().err


def test_dhag_train_takes_the_option_it_suggests_for_a_column_with_a_comma(tmp_path: Path, capsys) -> None:
    name = "zone, site"
    data = tmp_path / "rows.csv"
    frame = pd.DataFrame({"a": np.random.default_rng(0).normal(size=200), name: ["n", "s"] * 100})
    frame.to_csv(data, index=False)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--max-epochs", "1", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    suggestion = suggested_option("--categorical", name)
    assert f"(dhag train {suggestion})" in err
    assert main([*argv, *shlex.split(suggestion)]) == 0
    assert load_model(tmp_path / "m.dhag").preprocessor_.categorical == (name,)


def _bash_words(line: str) -> list[str]:
    """The words bash makes of ``line`` (in a UTF-8 locale, as a user's terminal is)."""
    said = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {line}"],
        capture_output=True,
        env={"LC_ALL": "C.UTF-8", "PATH": os.environ.get("PATH", "")},
        check=True,
    )
    return said.stdout.decode("utf-8").split("\0")[:-1]


UNPRINTABLE = [
    "flow\nrate",
    "temp\x1b[2J",
    "tab\there",
    "it's\n",
    "back\\slash\r",
    "-x\n",
    "zone,\n site",
    " \x07",
    "nel\x85",
    "zero\u200bwidth",
    "line\u2028sep",
    "del\x7f",
]


@pytest.mark.skipif(shutil.which("bash") is None, reason="the suggestion is for bash")
@pytest.mark.parametrize("name", UNPRINTABLE)
@pytest.mark.parametrize(("command", "option", "dest"), OPTIONS, ids=lambda v: v)
def test_a_name_that_does_not_print_is_suggested_as_bash_reads_it_back(
    command: str, option: str, dest: str, name: str
) -> None:
    # Before, the suggestion held the name as Python escapes it, 'flow\nrate': pasted into a shell, that
    # gave the option a backslash and an n, no line break, and so no column of the file.
    suggestion = suggested_option(option, name)
    assert suggestion.isprintable(), suggestion
    assert _read_back(command, dest, _bash_words(suggestion)) == [name], suggestion


@pytest.mark.skipif(shutil.which("bash") is None, reason="the suggestion is for bash")
@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1))
def test_any_name_reads_back_from_its_suggestion_pasted_into_bash(name: str) -> None:
    for command, option, dest in OPTIONS:
        suggestion = suggested_option(option, name)
        assert suggestion.isprintable()
        assert _read_back(command, dest, _bash_words(suggestion)) == [name], suggestion
    if name != "--":  # argparse drops a lone "--", even as an option's value: no option can name it
        suggestion = suggested_option("--label-column", name)
        assert _read_back("train", "label_column", _bash_words(suggestion)) == name, suggestion
