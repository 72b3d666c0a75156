"""A retraining run that raises: whatever it raises in its thread (an ``Exception`` or any other
``BaseException``), its traceback is logged, the run counts as failed, and ``--once``'s closing line,
which points at the traceback, tells the truth. An error raised on purpose, whose message says what
happened and what to do (a damaged reference sample, a full registry), is one line, no traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from log_support import own_records
from test_pipeline_retrain_stop import SAVED, _one_off, _raise


class _Aborted(BaseException):
    """Something raised to unwind a thread that is not an ``Exception``, as some libraries do."""


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
        (GeneratorExit(), "GeneratorExit"),
        (_Aborted("the training library gave up"), "_Aborted: the training library gave up"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (SystemExit(3), "SystemExit: 3"),
    ],
    ids=["OSError", "GeneratorExit", "custom BaseException", "KeyboardInterrupt", "SystemExit"],
)
def test_a_run_that_raises_anything_logs_its_traceback_and_counts_as_failed(
    registry: Path, monkeypatch, caplog: pytest.LogCaptureFixture, exc: BaseException, said: str
) -> None:
    # Before: only an Exception was logged (with its traceback) and counted; anything else raised in
    # the run's thread went unlogged and uncounted, and the closing line still said "traceback above".
    retrainer = _one_off(registry, monkeypatch, _raise(exc))
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 1
    records = own_records(caplog)
    closing = records[-1].getMessage()
    assert closing == f"retrain --once failed: the retraining run raised {said} (traceback above); {SAVED}"
    (logged,) = [r for r in records if r.levelno == logging.ERROR]
    # The line itself says what was raised, as the closing line does; the traceback follows it.
    assert logged.getMessage() == f"retraining run (on_demand) failed: {said}"
    assert logged.exc_info is not None and logged.exc_info[1] is exc
    assert records.index(logged) < len(records) - 1  # above the closing line
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    assert value("dhag_retrain_last_failure_timestamp_seconds") > 0


def test_a_run_refused_on_purpose_says_why_in_one_line_without_a_traceback(
    fitted, tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: "retraining run failed" and a traceback, whose last line only held why: the current
    # version's reference sample had been edited, and what to do about it.
    import numpy as np
    from plant_data import normal
    from retrain_data import _readings

    from pipeline import registry as reg
    from pipeline.reference import REFERENCE_SUFFIX
    from pipeline.retrain import run_cycle

    root = tmp_path / "registry"
    reg.publish(root, fitted, "v1", reference=[("p1", 0.0, {"flow_a": 1.0})])
    sample = root / f"v1{REFERENCE_SUFFIX}"
    data = bytearray(sample.read_bytes())
    data[-5] ^= 0xFF
    sample.write_bytes(bytes(data))
    rows = _readings(normal(np.random.default_rng(4), 800), 0.0)
    retrainer = _one_off(
        root, monkeypatch, lambda r: run_cycle(root, [], rows, r.cfg, train=lambda c, d, s: c)
    )
    with caplog.at_level(logging.INFO):
        assert retrainer.run(once=True) == 1
    records = own_records(caplog)
    assert not [r for r in records if r.exc_info]
    (error,) = [r for r in records if r.levelno == logging.ERROR]
    said = error.getMessage()
    assert said.startswith(
        "retraining run (on_demand) failed: ModelUnavailableError: Cannot read the reference"
    )
    assert str(sample) in said and "restore the file from a backup" in said
    closing = records[-1].getMessage()
    assert closing == f"retrain --once failed: {said.split(' failed: ', 1)[1]}; {SAVED}"
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
