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


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["score", "--model", "-", "--data", "rows.csv"], "--model"),
        (["info", "-"], "model"),
        (["sign", "m.dhag", "-"], "model"),
    ],
)
def test_a_model_named_as_standard_input_is_refused_saying_so(argv: list[str], option: str, capsys) -> None:
    # "Cannot read model artifact '-': No such file or directory", where --data - says that rows are not
    # read from standard input: `dhag info - < m.dhag` reads as if the model were missing.
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            f"error: argument {option}: a model is not read from standard input: give the path of its file "
            "(./- names a file called -)"
        )
    )
