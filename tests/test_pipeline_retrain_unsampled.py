"""A current model without a reference sample (an older one, or one trained some way that keeps none):
the retrainer says so once per version in a process, at its first run, not at every run while that
model stays current, which would teach operators to skip its warnings."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
from log_support import own_records
from plant_data import gross_outliers, normal
from retrain_data import SETTINGS, _labelled, _readings

from dhag import DHAG
from pipeline import registry as reg
from pipeline.config import RetrainSettings
from pipeline.retrain import run_cycle


def _blind(current: DHAG, data: object, settings: RetrainSettings) -> DHAG:
    """A candidate that flags nothing: rejected, so the current model stays current."""
    model = copy.deepcopy(current)
    model.threshold_ = 1.0
    return model


def _unsampled_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in own_records(caplog)
        if r.levelno == logging.WARNING and "has no reference sample" in r.getMessage()
    ]


def test_a_model_without_a_reference_sample_is_said_once_per_version(
    registry: Path, fitted: DHAG, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(3)
    normal_rows = _readings(normal(rng, 1500), 0.0)
    labelled = _labelled(gross_outliers(rng, 40), 1, 5.0)

    def run() -> str:
        result = run_cycle(registry, labelled, normal_rows, SETTINGS, train=_blind)
        assert result.outcome == "rejected"
        return result.parent

    with caplog.at_level(logging.WARNING, logger="pipeline.retrain.cycle"):
        assert [run() for _ in range(3)] == ["v1"] * 3
        lines = _unsampled_lines(caplog)
        assert len(lines) == 1 and lines[0].startswith("model v1 has no reference sample"), lines
        reg.publish(registry, fitted, "v2")  # another model without one becomes current
        assert [run() for _ in range(2)] == ["v2"] * 2
    lines = _unsampled_lines(caplog)
    assert len(lines) == 2 and lines[1].startswith("model v2 has no reference sample"), lines
