"""Column names that hold a line break, a tab or a terminal's escape, in what ``dhag`` says of them: a
refusal stays one line and a warning one message, and neither acts on the terminal; the scores' CSV
quotes them."""

from __future__ import annotations

import io
import logging
import shlex
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dhag import DHAG, InputError
from dhag.cli import build_parser, main

ODD = "flow\nrate\x1b[2J"
SHOWN = r"'flow\nrate\x1b[2J'"
# The option suggested for it: in bash's $'...' quotes, which give the name back pasted into a shell.
SUGGESTED = r"$'flow\nrate\x1b[2J'"


def _frame(column: object, n: int = 300) -> pd.DataFrame:
    return pd.DataFrame({"a": np.random.default_rng(0).normal(size=n), ODD: column})


@pytest.mark.parametrize(
    ("column", "settings", "option"),
    [
        ([np.nan] * 300, {}, "--id-columns"),  # empty
        (["north", "south"] * 150, {}, "--categorical"),  # text, to declare
        (pd.date_range("2026-01-01", periods=300, freq="min"), {}, "--id-columns"),  # times
        ([f"s{i}" for i in range(300)], {"categorical": [ODD]}, "--id-columns"),  # identifies rows
        (pd.Series(["a", "b"] * 150, dtype="category"), {}, "--categorical"),  # typed categorical
        (["1", "2"] * 150, {}, "--categorical"),  # numbers stored as text
    ],
)
def test_a_refusal_that_names_an_option_for_a_column_shows_the_name_escaped(
    quick_model, column: object, settings: dict, option: str
) -> None:
    # Before, the option's suggestion held the name raw: a line break split the one-line refusal, and
    # the escape sequence acted on the terminal of whoever read it.
    with pytest.raises(InputError) as exc:
        quick_model(**settings).fit(_frame(column))
    said = str(exc.value)
    assert said.isprintable(), said
    assert f"{option} {SUGGESTED}" in said


def test_dhag_train_refuses_such_a_column_in_one_line(tmp_path: Path, capsys) -> None:
    data = tmp_path / "rows.csv"
    _frame([np.nan] * 300).to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and f"--id-columns {SUGGESTED})" in err


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("my zone", "--id-columns 'my zone'"),
        ("it's $(date)", """--id-columns 'it'"'"'s $(date)'"""),
        ("-x", "--id-columns=-x"),
        ("flow_m3h", "--id-columns flow_m3h"),
        ("débit m3/h", "--id-columns 'débit m3/h'"),
        ("débit", "--id-columns débit"),
    ],
)
def test_dhag_train_suggests_an_option_a_shell_gives_it_back_as_the_column(
    tmp_path: Path, capsys, name: str, option: str
) -> None:
    # Before, the suggestion held the name bare: "--id-columns my zone" gave dhag train two words, and
    # "it's $(date)" left the shell in an open quote; "-x" was taken for an option.
    data = tmp_path / "rows.csv"
    pd.DataFrame({"a": np.random.default_rng(0).normal(size=300), name: np.nan}).to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    assert f"(dhag train {option})" in capsys.readouterr().err
    args = build_parser().parse_args(["train", "--data", str(data), "--out", "m.dhag", *shlex.split(option)])
    assert args.id_columns == [name]


def test_a_categorical_suggestion_and_the_label_warning_quote_a_name_with_a_space(
    tmp_path: Path, caplog, capsys
) -> None:
    text = tmp_path / "zones.csv"
    pd.DataFrame({"a": np.arange(300.0), "my zone": ["north", "south"] * 150}).to_csv(text, index=False)
    assert main(["train", "--data", str(text), "--out", str(tmp_path / "m.dhag"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "(dhag train --categorical 'my zone')" in err and "(dhag train --id-columns 'my zone')" in err
    marked = tmp_path / "marked.csv"
    pd.DataFrame({"a": np.arange(200.0), "is anomaly": [0] * 190 + [1] * 10}).to_csv(marked, index=False)
    argv = ["train", "--data", str(marked), "--out", str(tmp_path / "m.dhag"), "--max-epochs", "1", "--quiet"]
    with caplog.at_level(logging.WARNING, logger="dhag"):
        assert main(argv) == 0
    (hint,) = [r.getMessage() for r in caplog.records if "named as a label" in r.getMessage()]
    assert "--label-column 'is anomaly';" in hint and "--passthrough 'is anomaly' keeps" in hint


def test_a_label_like_column_is_warned_of_with_its_name_escaped(tmp_path: Path, caplog) -> None:
    data = tmp_path / "marked.csv"
    pd.DataFrame({"a": np.arange(200.0), "is\nanomaly": [0] * 190 + [1] * 10}).to_csv(data, index=False)
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.dhag"), "--max-epochs", "1", "--quiet"]
    with caplog.at_level(logging.WARNING, logger="dhag"):
        assert main(argv) == 0
    (hint,) = [r.getMessage() for r in caplog.records if "named as a label" in r.getMessage()]
    assert hint.isprintable(), hint
    assert r"--label-column $'is\nanomaly';" in hint and r"--passthrough $'is\nanomaly' keeps" in hint


def test_the_scores_csv_quotes_such_names_and_reads_back_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({ODD: rng.normal(size=400), "tab\there": rng.normal(size=400)})
    model = DHAG(max_epochs=2, random_state=0).fit(frame)
    path = model.save(tmp_path / "m.dhag")
    rows = frame.iloc[:10].copy()
    rows.iloc[:3] = 9.0
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = io.StringIO()
    with redirect_stdout(out):
        argv = ["score", "--model", str(path), "--data", str(tmp_path / "rows.csv"), "--explain", "2"]
        assert main(argv) == 0
    scores = pd.read_csv(io.StringIO(out.getvalue()), keep_default_na=False)
    assert len(scores) == 10 and list(scores.columns) == ["score", "anomaly", "top_features"]
    flagged = scores[scores["anomaly"] == 1]["top_features"]
    assert len(flagged) >= 3
    assert all({n.rsplit(":", 1)[0] for n in cell.split(";")} == {ODD, "tab\there"} for cell in flagged)
