"""``models rollback``'s note that the retrainer's next run may promote a model like the one rolled back:
said when the version rolled back from was the retrainer's promotion, not one an operator made
(``models promote``, ``models train``) or a rollback restored. Who made a version current is recorded
(``promoted.json``); a switch made before that record (an earlier release's) is judged by the version's
manifest: a candidate the retrainer published is taken for its promotion."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
from plant_data import normal
from retrain_data import SETTINGS, _readings

from dhag import DHAG
from pipeline import registry as reg
from pipeline.cli import main
from pipeline.retrain import run_cycle

NOTE = "the retrainer's next run"


def _rollback(capsys, registry: Path) -> tuple[int, str, str]:
    code = main(["models", "--registry", str(registry), "rollback"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _same(current: DHAG, data: object, settings: object) -> DHAG:
    return current  # judged alike: the gate accepts it


def test_a_hand_promotion_rolled_back_gets_no_note_of_the_retrainer(
    registry: Path, fitted: DHAG, capsys
) -> None:
    reg.publish(registry, fitted, "v2", make_current=False)
    assert main(["models", "--registry", str(registry), "promote", "v2"]) == 0
    capsys.readouterr()
    code, out, err = _rollback(capsys, registry)
    # Before: the note said the retrainer may promote a model like v2, which an operator promoted.
    assert (code, out, err) == (0, "v1 is current again (was v2)\n", "")
    assert json.loads((registry / "promoted.json").read_text())["by"] == "rollback"


def test_a_trained_model_rolled_back_gets_no_note_of_the_retrainer(
    registry: Path, fitted: DHAG, capsys
) -> None:
    reg.publish(registry, fitted, "v2")  # as `models train` publishes and makes current
    assert _rollback(capsys, registry) == (0, "v1 is current again (was v2)\n", "")


def test_the_retrainers_promotion_rolled_back_gets_the_note(registry: Path, capsys) -> None:
    rows = _readings(normal(np.random.default_rng(4), 800), 0.0)
    result = run_cycle(registry, [], rows, SETTINGS, train=_same)
    assert result.outcome == "promoted"
    assert json.loads((registry / "promoted.json").read_text())["by"] == "retrainer"
    code, out, err = _rollback(capsys, registry)
    assert (code, out) == (0, f"v1 is current again (was {result.candidate})\n")
    assert NOTE in err and "models hold" in err and err.count("\n") == 1, (out, err)


def test_a_switch_with_no_record_is_judged_by_the_manifest(registry: Path, fitted: DHAG, capsys) -> None:
    """As an earlier release left it: no record of who made the version current."""
    candidate = copy.deepcopy(fitted)
    candidate.metadata_ = {"retrain_run": {"id": "0a", "accepted": True}}  # as the retrainer publishes
    reg.publish(registry, candidate, "v2", make_current=False)
    reg.publish(registry, fitted, "v3", make_current=False)
    for version, noted in (("v2", True), ("v3", False)):
        reg.promote(registry, version)
        (registry / "promoted.json").unlink()
        code, out, err = _rollback(capsys, registry)
        assert (code, out) == (0, f"v1 is current again (was {version})\n")
        assert (NOTE in err) is noted, err


def test_a_record_of_another_version_is_passed_over(registry: Path, fitted: DHAG, capsys) -> None:
    reg.publish(registry, fitted, "v2")
    (registry / "promoted.json").write_text(json.dumps({"version": "v9", "by": "retrainer"}))
    assert _rollback(capsys, registry) == (0, "v1 is current again (was v2)\n", "")
