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


def test_models_train_version_help_says_the_default_name_as_publish_gives_it() -> None:
    train = _choices(_choices(_parser())["models"])["train"]
    said = next(a.help for a in train._actions if a.dest == "version")
    # Before: "(default: a UTC timestamp)", while a version published without a name is named by its
    # time and its publication number (v20261129T101500Z-42).
    assert "publication number" in said and "v20261129T101500Z-42" in said
