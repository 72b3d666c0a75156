"""``models hold --reason`` refuses a reason holding a control character or a line break, as ``--operator``
refuses a name holding one; and ``promotionhold.place``, the library call the command makes, refuses
what the command refuses (an operator naming no one, such a reason) rather than placing the hold. Before,
the reason was written into the hold as given and shown escaped in ``models list`` and the run reports,
and ``place(operator="")`` took the user running it where ``--operator ''`` is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import promotionhold
from pipeline.cli import main


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("v2 bad\x1b[2J", r"--reason 'v2 bad\x1b[2J' holds '\x1b' (a control character) at character 7: "),
        ("v2 bad\nsee #12", r"--reason 'v2 bad\nsee #12' holds '\n' (a line break) at character 7: "),
        ("v2\u2028bad", r"--reason 'v2\u2028bad' holds '\u2028' (a line break) at character 3: "),
    ],
)
def test_a_reason_with_a_control_character_or_a_line_break_is_refused_and_nothing_is_held(
    tmp_path: Path, capsys, reason: str, said: str
) -> None:
    code = main(["models", "--registry", str(tmp_path), "hold", "--reason", reason])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "") and captured.err.startswith(f"models hold: refused: {said}")
    assert "write the reason on one line" in captured.err
    assert not (tmp_path / "promotion-hold.json").exists()


def test_a_reason_in_any_script_with_spaces_is_held_as_given(tmp_path: Path, capsys) -> None:
    code = main(["models", "--registry", str(tmp_path), "hold", "--reason", "v2 schlägt nachts an  (#12)"])
    assert code == 0 and "v2 schlägt nachts an  (#12)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"operator": ""}, "operator '' names no one: give who holds the promotions, or leave operator out"),
        ({"operator": "ana\x07"}, r"operator 'ana\x07' holds '\x07' (a control character) at character 4"),
        ({"reason": "bad\r\nv2"}, r"reason 'bad\r\nv2' holds '\r' (a line break) at character 4"),
    ],
)
def test_the_library_refuses_what_the_command_refuses(
    tmp_path: Path, options: dict[str, str], said: str
) -> None:
    with pytest.raises(ValueError) as refused:
        promotionhold.place(tmp_path, **({"reason": "review"} | options))
    assert str(refused.value).startswith(said), refused.value
    assert promotionhold.read(tmp_path) is None


def test_the_library_keeps_an_operator_as_a_label_keeps_it(tmp_path: Path) -> None:
    hold, new = promotionhold.place(tmp_path, reason="review", operator="  ana   lee ")
    assert new and hold.operator == "ana lee" and promotionhold.read(tmp_path).operator == "ana lee"
