"""``models show V`` of the current version says who made it current and when (``made_current``), as
``promoted.json`` records each switch: the retrainer, an operator (``models promote``, ``models
train``, the demo) or a rollback."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import registry as reg
from pipeline.cli import main


def _run(capsys, registry: Path, *args: str) -> str:
    assert main(["models", "--registry", str(registry), *args]) == 0
    return capsys.readouterr().out


def test_show_says_who_made_the_current_version_current(fitted, registry: Path, capsys) -> None:
    reg.publish(registry, fitted, "v2", make_current=False)
    _run(capsys, registry, "promote", "v2")
    at = json.loads((registry / "promoted.json").read_text())["at"]
    # Before: recorded in promoted.json, which no command showed: an operator finding another model in
    # use in the morning could not tell whether the retrainer or a colleague had switched it.
    assert json.loads(_run(capsys, registry, "show", "v2"))["made_current"] == {"by": "operator", "at": at}
    assert json.loads(_run(capsys, registry, "show", "v1"))["made_current"] is None  # not current

    _run(capsys, registry, "rollback")
    at = json.loads((registry / "promoted.json").read_text())["at"]
    assert json.loads(_run(capsys, registry, "show", "v1"))["made_current"] == {"by": "rollback", "at": at}


def test_nothing_said_where_no_record_names_the_current_version(registry: Path, capsys) -> None:
    (registry / "promoted.json").unlink()  # an earlier release's switch: no record
    assert json.loads(_run(capsys, registry, "show", "v1"))["made_current"] is None
