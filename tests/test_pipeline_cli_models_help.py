"""``dhag-pipeline --help`` names every ``models`` command: an operator who reads it to find how to stop
the retrainer's promotions or train the first model finds ``hold``, ``release`` and ``train`` there."""

from __future__ import annotations

import argparse

from pipeline.cli import _parser


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_top_level_help_names_every_models_command() -> None:
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    line = next(c.help for c in action._choices_actions if c.dest == "models")
    commands = _choices(_choices(parser)["models"])
    missing = [name for name in commands if name not in line]
    assert not missing, (line, missing)
