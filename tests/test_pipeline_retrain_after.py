"""A retraining run whose housekeeping fails after its decision: the registry already holds the
candidate (current, if promoted), and the run says so rather than passing for a failed one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from plant_data import fault_cluster, normal
from retrain_data import SETTINGS, _labelled, _readings

from pipeline import registry as reg
from pipeline.retrain import cycle, run_cycle


def _promoting(registry: Path):  # noqa: ANN202
    rng = np.random.default_rng(1)
    normal_rows = _readings(normal(rng, 3000), 0.0)
    labelled = _labelled(fault_cluster(rng, 60), 1, 10.0) + _labelled(normal(rng, 20), 0, 12.0, first_id=100)
    settings = SETTINGS.model_copy(update={"max_far_increase": 0.02})
    return run_cycle(registry, labelled, normal_rows, settings, trigger="labels")


def test_a_prune_that_fails_after_the_promotion_leaves_the_run_promoted(
    registry: Path,
    monkeypatch,
    caplog,  # noqa: ANN001
) -> None:
    def broken(*args: object, **kwargs: object) -> list[str]:
        raise PermissionError("registry folder is read-only")

    monkeypatch.setattr(cycle, "prune", broken)
    with caplog.at_level(logging.ERROR, logger="pipeline.retrain.cycle"):
        result = _promoting(registry)
    assert result.outcome == "promoted" and reg.current(registry)[0] == result.candidate
    assert result.after_error is not None and "pruning the registry failed" in result.after_error
    assert result.after_failures == ("prune",)
    report = json.loads(result.report.read_text())
    assert report["decision"] == "promoted" and report["pruned"] == []
    assert "read-only" in report["after_error"]
    assert any(f"{result.candidate} is current" in r.getMessage() for r in caplog.records)


def test_a_report_that_cannot_be_written_after_the_promotion_leaves_the_run_promoted(
    registry: Path,
    monkeypatch,
    caplog,  # noqa: ANN001
) -> None:
    def full(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cycle, "write_atomic", full)
    with caplog.at_level(logging.ERROR, logger="pipeline.retrain.cycle"):
        result = _promoting(registry)
    assert result.outcome == "promoted" and reg.current(registry)[0] == result.candidate
    assert (
        result.after_error is not None
        and "writing its report" in result.after_error
        and "No space left" in result.after_error
    )
    assert not result.report.exists() and result.content["decision"] == "promoted"
    assert result.after_failures == ("report",)
    assert any(f"{result.candidate} is current" in r.getMessage() for r in caplog.records)


def test_a_failure_before_the_decision_still_fails_the_run(registry: Path, monkeypatch) -> None:  # noqa: ANN001
    def refused(*args: object, **kwargs: object) -> None:
        raise OSError("the registry cannot be switched")

    monkeypatch.setattr(reg, "promote", refused)
    with pytest.raises(OSError, match="cannot be switched"):
        _promoting(registry)
    assert reg.current(registry)[0] == "v1"
