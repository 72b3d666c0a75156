"""``dhag-pipeline bench``'s options: a number no benchmark can run with is refused by the parser, exit 2,
naming the option, before a model is trained or a broker started."""

from __future__ import annotations

import pytest

from pipeline.cli import main


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--records", "0"], "--records"),
        (["--records", "-5"], "--records"),
        (["--rate", "0"], "--rate"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "inf"], "--duration"),
        (["--duration", "0"], "--duration"),
        (["plant", "--seed", "-1"], "--seed"),
        (["plant", "--assets", "0"], "--assets"),
        (["plant", "--minutes", "-1"], "--minutes"),
        (["soak", "--minutes", "nan"], "--minutes"),
        (["soak", "--minutes", "inf"], "--minutes"),
        (["drift", "--history-hours", "0"], "--history-hours"),
        (["plant", "--history-hours", "inf"], "--history-hours"),
        (["plant", "--normal-hours", "-1"], "--normal-hours"),
        (["plant", "--normal-hours", "nan"], "--normal-hours"),
        (["feedback", "--quiet-hours", "nan"], "--quiet-hours"),
        (["feedback", "--quiet-hours", "-2"], "--quiet-hours"),
        (["soak", "--interval", "inf"], "--interval"),
        (["scale", "--replicas", "0"], "--replicas"),
        (["drift", "--days", "inf"], "--days"),
    ],
)
def test_a_number_out_of_range_is_refused_by_the_parser(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["bench", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: must be" in err and "Traceback" not in err


def test_zero_hours_still_mean_none_where_the_help_says_so() -> None:
    from pipeline.cli import _parser

    args = _parser().parse_args(
        ["bench", "plant", "--normal-hours", "0", "--quiet-hours", "0", "--seed", "0"]
    )
    assert (args.normal_hours, args.quiet_hours, args.seed) == (0.0, 0.0, 0)
