"""A promotion hold (``models hold`` / ``models release``): the retrainer trains and judges its candidate
but promotes none while the registry's ``promotion-hold.json`` is there (or cannot be read); operators'
own promote and rollback still work."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from log_support import own_records
from plant_data import normal
from retrain_data import SETTINGS, _readings
from test_pipeline_retrain_stop import SAVED, _one_off

from dhag import DHAG
from pipeline import promotionhold
from pipeline import registry as reg
from pipeline.cli import main
from pipeline.retrain import run_cycle

HOLD = "promotion-hold.json"


def _models(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _same(current: DHAG, data: object, settings: object) -> DHAG:
    """A training that gives the current model back: judged alike, the gate accepts it."""
    return current


def _rows() -> list:
    return _readings(normal(np.random.default_rng(4), 800), 0.0)


def test_hold_writes_the_marker_and_release_removes_it_both_idempotent(registry: Path, capsys) -> None:
    base = ("--registry", str(registry))
    code, out, err = _models(capsys, *base, "hold", "--reason", "v2 pages on pump-7", "--operator", "ana")
    assert (code, err) == (0, "")
    marker = json.loads((registry / HOLD).read_text())
    assert marker["operator"] == "ana" and marker["reason"] == "v2 pages on pump-7"
    assert marker["since"].endswith("Z")
    assert out.startswith("promotions held since ") and "by ana: v2 pages on pump-7" in out
    assert "trains and judges, promotes nothing" in out
    assert out.count("\n") == 1
    before = (registry / HOLD).read_bytes()
    code, out, err = _models(capsys, *base, "hold", "--reason", "other", "--operator", "bo")
    assert (code, err) == (0, "") and out.startswith("promotions already held") and "ana" in out
    assert (registry / HOLD).read_bytes() == before, "an existing hold is left as it was"
    assert not list(registry.glob(f".{HOLD}.*"))  # written atomically: no temp file left
    code, out, err = _models(capsys, *base, "release")
    assert (code, err) == (0, "") and out.startswith("promotions released") and "ana" in out
    assert not (registry / HOLD).exists()
    code, out, err = _models(capsys, *base, "release")
    assert (code, out, err) == (0, "no promotion hold in place: nothing to release\n", "")


def test_hold_and_release_refuse_a_missing_registry_with_exit_2(tmp_path: Path, capsys) -> None:
    for action in ("hold", "release"):
        code, out, err = _models(capsys, "--registry", str(tmp_path / "nope"), action)
        assert code == 2 and out == "" and err.startswith(f"models {action}: refused: there is no registry")


def test_list_says_the_hold_who_since_when_and_why(registry: Path, capsys) -> None:
    code, out, _ = _models(capsys, "--registry", str(registry), "list")
    assert code == 0 and "held" not in out
    _models(capsys, "--registry", str(registry), "hold", "--reason", "bad v2", "--operator", "ana")
    since = json.loads((registry / HOLD).read_text())["since"]
    code, out, _ = _models(capsys, "--registry", str(registry), "list")
    first = out.splitlines()[0]
    assert code == 0 and first.startswith("promotions held") and "ana" in first and since in first
    assert "bad v2" in first and "models release" in first


def test_rollback_suggests_a_hold_unless_one_is_in_place(registry: Path, fitted: DHAG, capsys) -> None:
    reg.publish(registry, fitted, "v2", make_current=False)
    reg.promote(registry, "v2", by="retrainer")  # the note is for the retrainer's promotions only
    code, out, err = _models(capsys, "--registry", str(registry), "rollback")
    assert code == 0 and out == "v1 is current again (was v2)\n"
    assert err.count("\n") == 1 and "models hold" in err and "next run" in err
    reg.promote(registry, "v2", by="retrainer")
    _models(capsys, "--registry", str(registry), "hold", "--operator", "ana")
    code, out, err = _models(capsys, "--registry", str(registry), "rollback")
    assert (code, out, err) == (0, "v1 is current again (was v2)\n", "")
    # An operator's own promotion is no retrainer's: the hold leaves it be.
    code, out, _ = _models(capsys, "--registry", str(registry), "promote", "v2")
    assert (code, out) == (0, "v2 is current (was v1)\n") and (registry / HOLD).exists()


def test_a_held_run_judges_its_candidate_and_promotes_nothing(registry: Path) -> None:
    promotionhold.place(registry, reason="v2 was bad", operator="ana")
    result = run_cycle(registry, [], _rows(), SETTINGS, train=_same)
    report = json.loads(result.report.read_text())
    assert result.outcome == "held" and report["decision"] == "held"
    assert reg.current(registry)[0] == "v1"
    assert reg.describe(registry, result.candidate).version == result.candidate  # published, not current
    assert report["metrics"]["candidate"]["threshold"] is not None  # judged as any run's
    assert report["promotion_hold"]["operator"] == "ana"
    assert any("held" in r and "ana" in r and "v2 was bad" in r for r in report["reasons"]), report
    promotionhold.release(registry)
    assert run_cycle(registry, [], _rows(), SETTINGS, train=_same).outcome == "promoted"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"operator": 3}'])
def test_a_hold_file_that_cannot_be_read_holds_and_is_said_once(
    registry: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    (registry / HOLD).write_bytes(content)
    with caplog.at_level(logging.WARNING):
        first = run_cycle(registry, [], _rows(), SETTINGS, train=_same)
        second = run_cycle(registry, [], _rows(), SETTINGS, train=_same)
    assert (first.outcome, second.outcome) == ("held", "held")
    assert reg.current(registry)[0] == "v1"
    said = [r.getMessage() for r in own_records(caplog) if "cannot be read" in r.getMessage()]
    assert len(said) == 1 and str(registry / HOLD) in said[0], said


def test_a_hold_file_that_is_a_folder_holds(registry: Path) -> None:
    (registry / HOLD).mkdir()
    hold = promotionhold.read(registry)
    assert hold is not None and hold.error is not None


def test_a_hold_placed_over_a_damaged_file_replaces_it(registry: Path, capsys) -> None:
    (registry / HOLD).write_bytes(b"{not json")
    code, out, _ = _models(capsys, "--registry", str(registry), "hold", "--operator", "ana")
    assert code == 0 and out.startswith("promotions held")
    assert json.loads((registry / HOLD).read_text())["operator"] == "ana"


def test_once_counts_a_held_run_and_the_gauge_shows_the_hold(registry: Path, monkeypatch, caplog) -> None:
    promotionhold.place(registry, reason="bad v2", operator="ana")
    rows = _rows()
    retrainer = _one_off(registry, monkeypatch, lambda r: run_cycle(registry, [], rows, r.cfg, train=_same))
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 0
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "held"}) == 1
    assert value("dhag_retrain_runs_total", {"outcome": "promoted"}) == 0
    assert value("dhag_retrain_promotions_held") == 1
    closing = own_records(caplog)[-1].getMessage()
    assert closing.startswith("retrain --once done: candidate ") and " held, " in closing
    assert "ana" in closing and closing.endswith(SAVED)
    promotionhold.release(registry)
    retrainer._survey_when_due()  # each loop iteration looks again
    assert value("dhag_retrain_promotions_held") == 0


def test_the_gauge_and_the_held_outcome_exist_from_start_up() -> None:
    from prometheus_client import CollectorRegistry

    from pipeline.metrics import RetrainMetrics

    metrics = RetrainMetrics(CollectorRegistry())
    assert metrics.registry.get_sample_value("dhag_retrain_runs_total", {"outcome": "held"}) == 0
    assert metrics.registry.get_sample_value("dhag_retrain_promotions_held") == 0


def test_a_hold_placed_while_a_run_trains_stops_its_promotion(registry: Path) -> None:
    def train_then_hold(current: DHAG, data: object, settings: object) -> DHAG:
        promotionhold.place(registry, reason="seen during the run", operator="ana")
        return current

    result = run_cycle(registry, [], _rows(), SETTINGS, train=train_then_hold)
    assert result.outcome == "held" and reg.current(registry)[0] == "v1"
