"""A throttled log's held-back count is said even when no later line of its kind comes: once its window
has passed (at the daemon's next turn), and at shutdown."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from pipeline import backoff
from pipeline.backoff import ThrottledLog
from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

log = logging.getLogger("pipeline.test.throttled")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(backoff.time, "monotonic", lambda: now[0])
    return now


def _held_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "held back" in r.getMessage()]


def test_the_count_is_said_once_the_window_has_passed(clock: list[float], caplog) -> None:
    caplog.set_level(logging.INFO)
    throttled = ThrottledLog(log, 60.0)
    for offset in (7, 8, 9):
        throttled.log("bad", logging.WARNING, "record at %d refused", offset)
    throttled.flush()
    assert _held_lines(caplog) == []  # within the window: a later line may still say it
    clock[0] += 60.0
    throttled.flush()
    (said,) = [r for r in caplog.records if "held back" in r.getMessage()]
    assert said.getMessage() == "2 more like this were held back (the last: record at 9 refused)"
    assert said.levelno == logging.WARNING
    throttled.flush(final=True)
    throttled.log("bad", logging.WARNING, "record at %d refused", 10)
    assert len(_held_lines(caplog)) == 1, "said once: neither again nor with the next line"


def test_every_throttled_log_says_its_count_as_the_daemon_stops(fitted, clock: list[float], caplog) -> None:
    caplog.set_level(logging.INFO)
    module_level = ThrottledLog(log, 600.0)  # as the modules' own logs are
    for _ in range(4):
        module_level.log("slow", logging.INFO, "a look at the end offsets failed")
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    processor = BatchProcessor(settings, fitted, "v1", metrics)
    daemon = Daemon(settings, processor, metrics, bootstrap_servers="127.0.0.1:1")
    daemon.request_stop()
    daemon.run()
    # (Among those of the other logs of the process, which held back lines of their own.)
    assert "3 more like this were held back (the last: a look at the end offsets failed)" in _held_lines(
        caplog
    )
