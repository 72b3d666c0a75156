"""The file options of ``dhag-pipeline``: a leading ``~`` is the home folder also after ``--opt=``,
where the shell leaves it as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import _parser


@pytest.mark.parametrize(
    ("argv", "dest"),
    [
        (["bench", "--json=~/bench.json"], "json"),
        (["demo", "--json=~/demo.json"], "json"),
        (["simulate", "--history=~/history.csv"], "history"),
    ],
)
def test_a_leading_tilde_after_equals_is_the_home_folder(argv: list[str], dest: str) -> None:
    args = _parser().parse_args(argv)
    value = getattr(args, dest)
    assert value == Path.home() / value.name
    assert "~" not in str(value)
