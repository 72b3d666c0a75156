"""What a test's own code logged, without kafka-python's lines.

A Kafka client left connecting by an earlier test (its broker gone) keeps logging "Connection failed"
from its own thread into whichever test runs next; a test that holds its code silent reads only the
project's loggers, so that noise neither fails it nor hides a line of ours."""

from __future__ import annotations

import logging

import pytest


def own_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name != "kafka" and not r.name.startswith("kafka.")]


def own_text(caplog: pytest.LogCaptureFixture) -> str:
    return "".join(f"{r.levelname} {r.name}: {r.getMessage()}\n" for r in own_records(caplog))
