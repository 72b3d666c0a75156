"""A retraining run on a registry whose volume is full: one error line that says what the run left and
how to make room (``models prune``), no traceback, the run counted as failed."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from log_support import own_records
from plant_data import normal
from retrain_data import _readings
from test_pipeline_retrain_stop import SAVED, _one_off

import dhag.atomicwrite as atomicwrite
from pipeline import registry as reg
from pipeline.reference import REFERENCE_SUFFIX
from pipeline.retrain import run_cycle


def _full_at(monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """The volume is full when the atomic writer renames a file whose name ends with ``suffix`` into
    place (the temp file was written); what v1 needs is there already."""
    real = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).name.endswith(suffix):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), src, None, dst)
        real(src, dst)

    monkeypatch.setattr(atomicwrite.os, "replace", replace)


def _candidate_run(registry: Path):  # noqa: ANN202
    """A run whose training gives the current model back: judged alike, it is accepted."""
    rows = _readings(normal(np.random.default_rng(4), 800), 0.0)

    def cycle(retrainer):  # noqa: ANN001, ANN202
        return run_cycle(registry, [], rows, retrainer.cfg, train=lambda current, data, settings: current)

    return cycle


@pytest.mark.parametrize(
    ("full_at", "left"),
    [
        (REFERENCE_SUFFIX, "nothing was published and v1 stays current"),
        ("current", "is published, not current: v1 stays current"),
    ],
    ids=["publishing", "promoting"],
)
def test_a_full_registry_fails_the_run_with_one_line_that_says_how_to_make_room(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture, full_at: str, left: str
) -> None:
    # Before: the run logged "retraining run failed" with a full traceback, and --once closed with
    # "raised OSError: [Errno 28] No space left on device: '...' (traceback above)", no word of what
    # was left or of making room.
    retrainer = _one_off(registry, monkeypatch, _candidate_run(registry))
    _full_at(monkeypatch, full_at)
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 1
    monkeypatch.undo()
    records = own_records(caplog)
    assert not [r for r in records if r.exc_info], "no traceback"
    (error,) = [r for r in records if r.levelno == logging.ERROR]
    said = error.getMessage()
    assert said.startswith("retraining run (on_demand) failed: the registry's volume is full")
    assert "No space left on device" in said and full_at in said  # the file it could not write
    assert left in said
    assert "dhag-pipeline models prune --keep N" in said and "retrain.keep_versions (50)" in said
    closing = records[-1].getMessage()
    assert closing.startswith("retrain --once failed: the registry's volume is full")
    assert closing.endswith(SAVED) and "traceback" not in closing
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    assert reg.current(registry)[0] == "v1"
