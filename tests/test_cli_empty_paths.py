"""An empty path given to ``dhag`` (``--data "$ROWS"`` with the variable unset) is refused as one, naming
the option, before anything is read; before, it read as '.', the working folder: "Data file '.' is a
folder", "Model artifact '.' is not a regular file", or "--out '' ends in '/.'"."""

from __future__ import annotations

import pytest

from dhag.cli import main


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["train", "--data", "", "--out", "m.dhag"], "--data"),
        (["train", "--data", "rows.csv", "--out", ""], "--out"),
        (["score", "--model", "", "--data", "rows.csv"], "--model"),
        (["score", "--model", "m.dhag", "--data", "rows.csv", "--out", ""], "--out"),
        (["info", ""], "model"),
        (["sign", "m.dhag", ""], "model"),
        (["bench", "show", ""], "parts"),
    ],
)
def test_an_empty_path_is_refused_as_one(argv: list[str], option: str, capsys) -> None:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert err.splitlines()[-1].endswith(
        f"error: argument {option}: an empty path names no file (an unset variable in a script?)"
    )
