"""``models hold --operator`` refuses a name that names no one, as ``label --operator`` does: blank (a
variable unset), holding a control or invisible character, or over 128 characters; a name is kept as a
label keeps it (no spaces around it, a run inside as one). Before, an empty one was silently taken for
the user running the command, and a blank one or one holding a tab was written into the hold as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main


def _hold(capsys, registry: Path, operator: str) -> tuple[int, str, str]:
    code = main(["models", "--registry", str(registry), "hold", "--reason", "review", "--operator", operator])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("operator", "said"),
    [
        ("", "--operator '' names no one: give who holds the promotions, or leave --operator out"),
        ("   ", "--operator '   ' names no one: "),
        ("ana\tlee", "--operator 'ana\\tlee' holds '\\t' (a control character) at character 4: "),
        ("ana\u200b", "--operator 'ana\\u200b' holds '\\u200b' (an invisible character) at character 4: "),
        ("k" * 129, "--operator must be at most 128 characters; got 129 without the spaces around it"),
    ],
)
def test_an_operator_naming_no_one_is_refused_and_nothing_is_held(
    tmp_path: Path, capsys, operator: str, said: str
) -> None:
    code, out, err = _hold(capsys, tmp_path, operator)
    assert (code, out) == (2, "") and err.startswith(f"models hold: refused: {said}")
    assert not (tmp_path / "promotion-hold.json").exists()


def test_an_operator_is_kept_as_a_label_keeps_it(tmp_path: Path, capsys) -> None:
    code, out, err = _hold(capsys, tmp_path, "  ana   lee ")
    assert (code, err) == (0, "") and "by ana lee: review" in out
    assert json.loads((tmp_path / "promotion-hold.json").read_text())["operator"] == "ana lee"
