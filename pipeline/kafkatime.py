"""A batch's Kafka record time: what a reading's ``ts`` is judged against when this host's clock is
behind (:class:`pipeline.records.RecordParser`, :class:`pipeline.drift.ScoreDriftMonitor`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["KafkaTime", "broker_time", "record_time"]

_LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker stamped it


def record_time(record: Any) -> float | None:
    """When ``record`` was written to Kafka (epoch seconds), None when it carries no time.

    >>> from types import SimpleNamespace as R
    >>> record_time(R(timestamp=1500)), record_time(R(timestamp=-1)), record_time(R())
    (1.5, None, None)
    """
    stamp = getattr(record, "timestamp", None)
    return stamp / 1000.0 if isinstance(stamp, int) and stamp >= 0 else None


def broker_time(records: Sequence[Any]) -> float | None:
    """The Kafka record time (epoch seconds) of consumer ``records``, or None when it cannot be trusted.

    Times the broker stamped (LogAppendTime) are its clock: their median. Times the producers stamped
    (CreateTime) are a gateway's clock, which may run as fast as the ``ts`` it writes: only the median
    of at least three partitions' medians, so that one gateway's clock does not move it.
    """
    appended, created = [], {}
    for rec in records:
        if not isinstance(t := getattr(rec, "timestamp", None), int) or t <= 0:
            continue
        if getattr(rec, "timestamp_type", None) == _LOG_APPEND_TIME:
            appended.append(t)
        else:
            created.setdefault((getattr(rec, "topic", None), getattr(rec, "partition", None)), []).append(t)
    if appended:
        return float(np.median(appended)) / 1000.0
    if len(created) >= 3:
        return float(np.median([np.median(v) for v in created.values()])) / 1000.0
    return None


class KafkaTime:
    """A batch's :func:`broker_time`, worked out the first time it is asked for: only a ``ts`` ahead
    of this host's clock needs it, so most batches never pay for it."""

    def __init__(self, records: Sequence[Any]) -> None:
        self._records: Sequence[Any] | None = records
        self._value: float | None = None

    def __call__(self) -> float | None:
        if self._records is not None:
            self._value, self._records = broker_time(self._records), None
        return self._value
