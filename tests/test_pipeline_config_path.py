"""`--config` given something that is not a settings file: an empty path, a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import EXIT_CONFIG, main


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("", "config error: --config is empty: give the path of a YAML settings file"),
        ("{tmp}", "config error: '{tmp}' is a folder, not a settings file: give the YAML file in it"),
    ],
    ids=["empty", "folder"],
)
def test_a_config_path_that_is_no_file_says_what_it_is(tmp_path: Path, capsys, given: str, said: str) -> None:
    # Before: "cannot read '': Is a directory" for both (an unset variable in `--config "$CONFIG"`).
    assert main(["check-config", "--config", given.format(tmp=tmp_path)]) == EXIT_CONFIG
    assert capsys.readouterr().err.strip() == said.format(tmp=tmp_path)
