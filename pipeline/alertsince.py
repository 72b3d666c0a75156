"""``dhag-pipeline alerts --since``: the time to read the topics from, given as a duration back from now
(``90m``, ``2h``, ``7d``) or an ISO-8601 time (``2024-05-01``, ``2024-05-01T08:00Z``, UTC unless it
names an offset, as the console shows its times), how far before it the labels topic is read
(:func:`labels_from`) and where each partition is read from (:func:`since_offsets`).

Kafka finds a record by time only when it carries one: records without (timestamp -1, written by an old
producer or in message format v0) are judged by their own time, their ``ts`` field, and a partition
holding only such records is read whole; the console says so (:func:`untimed_note`)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import TopicPartition

from pipeline.config import Settings

__all__ = [
    "SINCE_HELP",
    "labels_from",
    "own_time_since",
    "parse_since",
    "since_offsets",
    "untimed_note",
]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.IGNORECASE)
# One or more parts, largest first or not, as Prometheus writes a duration: 90m, 1h30m, 2d12h, 2H.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+", re.IGNORECASE)
_UTC_WORD = re.compile(r"\s*\bUTC$", re.IGNORECASE)
SINCE_HELP = (
    "read only what was written to Kafka since then (the labels from a margin before it: "
    "docs/feedback.md): a "
    "duration back from now (a number and s, m, h, d or w: 90m, 2h, 1h30m, 7d) or an ISO-8601 time "
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
    if _DURATION.fullmatch(text) is not None:
        span = sum(float(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(text))
        if span <= 0:
            raise ValueError(f"{text!r} is no time back from now: give a duration longer than 0")
        return max(0.0, now - span)  # Kafka reads a negative time as "the end" or "the start"
    try:
        when = datetime.fromisoformat(_UTC_WORD.sub("Z", text))
    except ValueError:
        # '-5m' as 'date -d' writes it: the duration back from now is written without a sign.
        unsigned = text[1:].strip() if text[:1] in "+-" else ""
        sign = _DURATION.fullmatch(unsigned) is not None
        raise ValueError(
            f"{text!r} is neither a duration (a number and s, m, h, d or w: 90m, 2h, 1h30m, 7d) nor an "
            "ISO-8601 time (2024-05-01, 2024-05-01T08:00Z)"
            + (f"; a duration is the time back from now, without a sign: --since {unsigned}" if sign else "")
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


def since_offsets(consumer: Any, parts: list[TopicPartition], since_ms: int) -> dict[TopicPartition, int]:
    """Where to read each of ``parts`` from for what was written at or after ``since_ms``: its offset for
    that time; where Kafka finds none, its end (nothing written since), unless it finds no record by time
    at all in a partition that holds some, whose records then carry no time: its start (read whole)."""
    found = consumer.offsets_for_times(dict.fromkeys(parts, since_ms))
    starts = {tp: found[tp].offset for tp in parts if found.get(tp) is not None}
    ends = consumer.end_offsets(parts)
    unfound = [tp for tp in parts if tp not in starts]
    if unfound:
        timed = consumer.offsets_for_times(dict.fromkeys(unfound, 0))
        untimed = [tp for tp in unfound if timed.get(tp) is None]
        first = consumer.beginning_offsets(untimed) if untimed else {}
        starts |= {tp: first[tp] for tp in untimed if first[tp] < ends[tp]}
    return {tp: starts.get(tp, ends[tp]) for tp in parts}


def own_time_since(record: Any, since: float) -> bool:
    """Whether a record without a Kafka time says it was written at or after ``since`` (its ``ts``
    field; both epoch seconds); True when it says no time (not JSON, no number there).

    >>> from types import SimpleNamespace as R
    >>> [own_time_since(R(value=v), 1.0) for v in (b'{"ts": 0.5}', b'{"ts": 2}', b"{}", b"x")]
    [False, True, True, True]
    """
    try:
        ts = orjson.loads(record.value).get("ts")
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return True
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        return True
    return ts >= since


def untimed_note(topic: str, partitions: list[int]) -> str:
    """What the console says of ``partitions`` of ``topic`` holding records without a Kafka time.

    >>> untimed_note("alerts", [0])[:61]
    'alerts --since: the topic alerts partition 0 holds records wi'
    """
    many = len(partitions) > 1
    which = f"partition{'s' if many else ''} {', '.join(map(str, partitions))} {'hold' if many else 'holds'}"
    return (
        f"alerts --since: the topic {topic} {which} records without a Kafka timestamp (written by an "
        "old producer or in message format v0), which Kafka cannot find by time: each was kept by its own "
        "time (its ts field) instead, and a partition holding only such records was read whole"
    )
