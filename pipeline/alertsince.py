"""``dhag-pipeline alerts --since``: the time to read the topics from, given as a duration back from now
(``90m``, ``2h``, ``7d``) or an ISO-8601 time (``2024-05-01``, ``2024-05-01T08:00Z``, UTC unless it
names an offset, as the console shows its times), and how far before it the labels topic is read
(:func:`labels_from`)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from pipeline.config import Settings

__all__ = ["SINCE_HELP", "labels_from", "parse_since"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
SINCE_HELP = (
    "read only what was written to Kafka since then (the labels from a margin before it: README): a "
    "duration back from now (a number and s, m, h, d or w: 90m, 2h, 7d) or an ISO-8601 time "
    "(2024-05-01, 2024-05-01T08:00Z; UTC unless it gives an offset); lists the episodes opened since "
    "then (default: everything the topics retain)"
)


def parse_since(text: str, now: float) -> float:
    """The epoch seconds ``text`` names, ``now`` being the current time; :class:`ValueError` with the
    reason when it names none, or a time after ``now``; never before 1970 (0).

    >>> parse_since("2h", 1e9)
    999992800.0
    >>> parse_since("2024-05-01T08:00:00+02:00", 2e9)
    1714543200.0
    >>> parse_since("2024-05-01", 2e9) == parse_since("2024-05-01T00:00Z", 2e9)
    True
    """
    text = text.strip()
    if (duration := _DURATION.fullmatch(text)) is not None:
        span = float(duration.group(1)) * _UNITS[duration.group(2)]
        if span <= 0 or not math.isfinite(now - span):
            raise ValueError(f"{text!r} is no time back from now: give a duration longer than 0")
        return max(0.0, now - span)  # Kafka reads a negative time as "the end" or "the start"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (a number and s, m, h, d or w: 90m, 2h, 7d) nor an "
            "ISO-8601 time (2024-05-01, 2024-05-01T08:00Z)"
        ) from None
    at = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
    if at > now:
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise ValueError(f"{text!r} is in the future (now is {stamp}): nothing was written since then")
    return max(0.0, at)


def labels_from(since: float, settings: Settings) -> float:
    """When to read the labels topic from, for the episodes opened since ``since``: that far back as the
    label store takes a label written before its alert, the longer of ``retrain.label_retry_s`` (a label
    by id waits that long for its alert) and ``records.max_future_s`` (a label by reading written before
    the reading's time, dated ahead of Kafka's clock as far as the readings may be); never before 1970.

    >>> labels_from(1e9, Settings())  # label_retry_s: 600 s; max_future_s: 300 s
    999999400.0
    """
    ahead = settings.records.max_future_s or 0.0
    return max(0.0, since - max(settings.retrain.label_retry_s, ahead))
