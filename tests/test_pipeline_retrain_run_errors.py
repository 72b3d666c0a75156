"""A retraining run that raises: whatever it raises in its thread (an ``Exception`` or any other
``BaseException``), its traceback is logged, the run counts as failed, and ``--once``'s closing line,
which points at the traceback, tells the truth."""

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
    assert logged.getMessage() == "retraining run failed"
    assert logged.exc_info is not None and logged.exc_info[1] is exc
    assert records.index(logged) < len(records) - 1  # above the closing line
    value = retrainer.metrics.registry.get_sample_value
    assert value("dhag_retrain_runs_total", {"outcome": "failed"}) == 1
    assert value("dhag_retrain_last_failure_timestamp_seconds") > 0
