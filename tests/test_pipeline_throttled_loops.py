"""Each long-running loop says the held-back counts of the process's throttled logs once their window has
passed, at its next turn: the daemon's and the retrainer's, neither waiting for a later line of the kind
or for the stop."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry
from test_pipeline_produce_owed import _Consumer, _daemon, _run_for

from pipeline.backoff import ThrottledLog
from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.service import Retrainer

log = logging.getLogger("pipeline.test.throttled_loops")
SAID = "2 more like this were held back (the last: record at 9 refused)"


def _held_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "held back" in r.getMessage()]


def _hold_back(throttled: ThrottledLog, clock: list[float]) -> None:
    """Three lines of one kind, two of them held back; then the window passes with no fourth."""
    for offset in (7, 8, 9):
        throttled.log("bad", logging.WARNING, "record at %d refused", offset)
    clock[0] += throttled.interval_s + 1


def test_the_daemon_says_a_held_back_count_at_its_next_turn(fitted, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO)
    clock = [10_000.0]
    daemon, _ = _daemon(fitted, monkeypatch, clock)  # its clock is the throttled logs' too
    throttled, said = ThrottledLog(log, 60.0), []

    def hold() -> dict:
        _hold_back(throttled, clock)
        return {}

    def look() -> dict:
        said.extend(_held_lines(caplog))
        return {}

    daemon.consumer = _Consumer(clock, set(), [hold, look])  # type: ignore[assignment]
    _run_for(daemon, clock, 5.0)
    assert SAID in said


class _Turns:
    """A retrainer's consumer: each poll plays the next of ``turns`` (and returns no records); then the
    retrainer is asked to stop."""

    def __init__(self, retrainer: Retrainer, turns: list) -> None:
        self.retrainer, self.turns = retrainer, list(turns)

    def poll(self, timeout_ms: int = 0) -> dict:
        if not self.turns:
            self.retrainer.request_stop()
        else:
            self.turns.pop(0)()
        return {}

    def close(self, *args: object, **kwargs: object) -> None:
        pass


class _Producer:
    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, *args: object, **kwargs: object) -> None:
        pass


def test_the_retrainer_says_a_held_back_count_at_its_next_turn(monkeypatch, caplog) -> None:
    # Before, only its stop said it: a count held back an hour before could wait days.
    caplog.set_level(logging.INFO)
    clock = [10_000.0]
    monkeypatch.setattr("pipeline.backoff.time.monotonic", lambda: clock[0])
    settings = Settings.model_validate({"retrain": {"on_drift": False}})
    retrainer = Retrainer(
        settings, LabelStore(":memory:"), RetrainMetrics(CollectorRegistry()), bootstrap_servers="x:9092"
    )
    monkeypatch.setattr(retrainer, "_current_model", lambda level=logging.WARNING: ("v1", None, None))
    throttled, said = ThrottledLog(log, 600.0), []
    consumer = _Turns(
        retrainer, [lambda: _hold_back(throttled, clock), lambda: said.extend(_held_lines(caplog))]
    )
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [])
    assert retrainer.run() == 0
    assert SAID in said


def test_a_throttled_log_forgets_the_keys_whose_window_passed(monkeypatch) -> None:
    # Keys taken from records (a label's unknown field names, its operator): before, each made-up one
    # stayed in the log's table for the process's life.
    import sys

    clock = [1000.0]
    monkeypatch.setattr("pipeline.backoff.time.monotonic", lambda: clock[0])
    throttled = ThrottledLog(logging.getLogger("pipeline.test.throttled_keys"), 600.0)
    for i in range(5000):
        throttled.log(f"made-up-{i}", logging.WARNING, "label carries field made-up-%d", i)
    throttled.log("made-up-7", logging.WARNING, "again")  # held back: said by the flush below
    clock[0] += 300.0
    throttled.log("kept", logging.WARNING, "within its window at the flush")
    clock[0] += 300.0
    throttled.flush()
    assert list(throttled._last) == ["kept"] and not throttled._held and not throttled._latest
    assert sys.getsizeof(throttled._last) < 4096
    throttled.log("kept", logging.WARNING, "still within its window")
    assert throttled._held == {"kept": 1}
