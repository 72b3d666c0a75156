"""Where the consumer's position was reset, and the input records that were never read because of it.

A daemon reads each partition from its consumer group's committed position. Two things make kafka-python
reset that position (``kafka.auto_offset_reset``) without the daemon being asked:

* **no committed position**: a new consumer group, or one whose positions the broker dropped after the
  group stood empty longer than its ``offsets.retention.minutes`` (7 days by default): a daemon stopped
  that long starts over from the partition's first retained record (``earliest``) or its end (``latest``);
* **a position outside the partition's retained records** (an out-of-range fetch):
  - before the first one: the topic's retention deleted records the daemon had not read yet (it was
    stopped, or lagged, longer than ``retention.ms``). They were never scored, and no fault in them
    was ever alerted on; the reset skips them (``earliest``) or everything up to the end (``latest``);
  - beyond the last one: the topic was deleted and created again, or the broker lost records; reading
    starts again from the reset position.

kafka-python says so only at INFO level, which the daemon's log leaves out (``pipeline.logs``). A
:class:`ResetWatch` on its fetcher's logger keeps those two INFO records, and the daemon turns them
into its own log lines and metrics (:meth:`ResetWatch.take`, ``pipeline.daemon``). The record formats
are kafka-python's; ``tests/test_pipeline_offset_resets.py`` holds them against the installed
library's source, so a release that words them otherwise fails the tests rather than go quiet.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["OUT_OF_RANGE", "RESET", "Reset", "ResetWatch", "report", "watch"]

FETCHER_LOGGER = "kafka.consumer.fetcher"
# kafka-python's messages (kafka/consumer/fetcher.py), matched on the format, not the formatted text.
OUT_OF_RANGE = "Fetch offset %s is out of range for topic-partition %s"
RESET = "Resetting offset for partition %s to offset %s."


@dataclass(frozen=True)
class Reset:
    """A partition's position set to ``offset``; ``fetched`` the out-of-range position it replaced (None:
    the partition had no committed position)."""

    topic: str
    partition: int
    offset: int
    fetched: int | None = None

    @property
    def reason(self) -> str:
        """``no_commit`` or ``out_of_range`` (``dhag_input_position_resets_total``)."""
        return "no_commit" if self.fetched is None else "out_of_range"

    @property
    def skipped(self) -> int:
        """Records the reset jumped over without reading: from the out-of-range position forward."""
        return 0 if self.fetched is None else max(0, self.offset - self.fetched)


class ResetWatch(logging.Filter):
    """Keeps kafka-python's position resets, from whichever thread logs them, for :meth:`take`.

    As a filter on the fetcher's logger it sees its records before any handler, and lets through only
    those the ``kafka`` logger's level lets through, so that turning the fetcher's logger to INFO for
    the watch shows nothing more in the log.

    >>> w = ResetWatch()
    >>> tp = type("TP", (), {"topic": "sensors", "partition": 2})()
    >>> record = logging.LogRecord(FETCHER_LOGGER, logging.INFO, "", 0, OUT_OF_RANGE, (120, tp), None)
    >>> w.filter(record) or None
    >>> w.filter(logging.LogRecord(FETCHER_LOGGER, logging.INFO, "", 0, RESET, (tp, 5000), None)) or None
    >>> w.take()
    [Reset(topic='sensors', partition=2, offset=5000, fetched=120)]
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._out_of_range: dict[tuple[str, int], int] = {}
        self._resets: list[Reset] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in (OUT_OF_RANGE, RESET) and isinstance(record.args, tuple) and len(record.args) == 2:
            self._keep(record.msg, record.args)
        return record.levelno >= logging.getLogger("kafka").getEffectiveLevel()

    def _keep(self, msg: str, args: tuple[Any, ...]) -> None:
        if msg == OUT_OF_RANGE:
            fetched, tp = args
        else:
            tp, offset = args
        where = (getattr(tp, "topic", None), getattr(tp, "partition", None))
        if not isinstance(where[0], str) or not isinstance(where[1], int):
            return
        with self._lock:
            if msg == OUT_OF_RANGE:
                self._out_of_range[where] = int(fetched)
            else:
                fetched = self._out_of_range.pop(where, None)
                self._resets.append(Reset(where[0], where[1], int(offset), fetched))

    def take(self) -> list[Reset]:
        """The resets kept since the last take, of every consumer of this process (the caller keeps its
        own partitions')."""
        with self._lock:
            resets, self._resets = self._resets, []
        return resets


_WATCH: ResetWatch | None = None
_INSTALL = threading.Lock()


def watch() -> ResetWatch:
    """The process's :class:`ResetWatch`, installed on kafka-python's fetcher logger at first call; each
    call sees to it that the logger makes the INFO records the watch needs (a logging set-up may have
    set its level since)."""
    global _WATCH
    with _INSTALL:
        fetcher = logging.getLogger(FETCHER_LOGGER)
        if _WATCH is None:
            _WATCH = ResetWatch()
            fetcher.addFilter(_WATCH)
        if fetcher.getEffectiveLevel() > logging.INFO:
            fetcher.setLevel(logging.INFO)
        return _WATCH


def report(resets: list[Reset], policy: str, group: str, log: logging.Logger) -> None:
    """Log ``resets`` under ``kafka.auto_offset_reset`` ``policy``: those without a committed position
    together on one line (INFO: expected of a new group), each other one on its own.

    >>> import sys
    >>> log = logging.getLogger("doctest.resets"); log.addHandler(logging.StreamHandler(sys.stdout))
    >>> log.setLevel(logging.INFO); log.propagate = False
    >>> report([Reset("sensors", 0, 0), Reset("sensors", 1, 0), Reset("sensors", 2, 5000, 120)],
    ...        "earliest", "dhag", log)  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
    sensors[2]: records 120 to 4999 (4880) were never read: deleted by the topic's retention before
    this daemon read them. ...
    sensors[0, 1]: consumer group 'dhag' has no committed position; reading from offsets 0, 0 ...
    """
    fresh = [r for r in resets if r.fetched is None]
    for reset in resets:
        if reset.fetched is not None:
            log.log(*_out_of_range_line(reset, policy))
    for topic in sorted({r.topic for r in fresh}):
        mine = sorted((r for r in fresh if r.topic == topic), key=lambda r: r.partition)
        log.info(
            "%s[%s]: consumer group %r has no committed position; reading from offsets %s "
            "(kafka.auto_offset_reset %s). Expected of a new group; otherwise the broker dropped the "
            "group's positions after it stood empty longer than offsets.retention.minutes, and records "
            "are read again (earliest) or skipped (latest)",
            topic,
            ", ".join(str(r.partition) for r in mine),
            group,
            ", ".join(str(r.offset) for r in mine),
            policy,
        )


def _out_of_range_line(reset: Reset, policy: str) -> tuple[int, str]:
    where = f"{reset.topic}[{reset.partition}]"
    if reset.skipped:
        cause = (
            "deleted by the topic's retention before this daemon read them"
            if policy == "earliest"
            else f"skipped: the position {reset.fetched} lay outside the retained records and "
            "kafka.auto_offset_reset latest moved it to the end"
        )
        return logging.ERROR, (
            f"{where}: records {reset.fetched} to {reset.offset - 1} ({reset.skipped}) were never read: "
            f"{cause}. They were not scored and faults in them raised no alert; keep the topic's "
            "retention.ms longer than the daemon may be stopped or behind (DhagInputRecordsSkipped)"
        )
    return logging.WARNING, (
        f"{where}: the committed position {reset.fetched} lies beyond the partition's last record; "
        f"reading again from offset {reset.offset}: the topic was deleted and created again, or the "
        "broker lost records"
    )
