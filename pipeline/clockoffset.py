"""How far each asset's clock lies from Kafka's: ``dhag_asset_clock_offset_seconds``.

A reading's offset is its ``ts`` minus the time it was written to Kafka: the record's timestamp (the
broker's clock under LogAppendTime, the producer's under CreateTime), or this host's clock for a record
without one. A gateway whose clock is wrong dates every reading it sends off by that much. Buffering
after an outage, a replay of retained history and uploads in batches only ever make a reading older
than its record, never newer. So an asset's offset is its largest over the last one to two minutes of
its readings: a replayed or buffered batch among live ones leaves it at the live readings' offset, and
a wrong clock shows in every reading, the largest included.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import Gauge

from pipeline.records import ParsedBatch

__all__ = ["WINDOW_S", "ClockOffsets", "newest_offsets"]

WINDOW_S = 60.0  # an asset's offset is its largest over the last WINDOW_S to 2 * WINDOW_S seconds


def newest_offsets(
    records: Sequence[Any], parsed: ParsedBatch, rows: np.ndarray, wall_now: float
) -> dict[str, float]:
    """Each asset's largest offset (seconds) among the readings ``rows`` of ``parsed`` (parsed from
    ``records``): ``ts`` minus its record's Kafka timestamp, or minus ``wall_now`` (this host's clock)
    for a record without one.

    >>> from collections import namedtuple
    >>> Rec = namedtuple("Rec", "timestamp")
    >>> recs = [Rec(1_000_000), Rec(-1), Rec(1_001_000), Rec(-1)]
    >>> parsed = ParsedBatch([0, 2, 3], ["a", "a", "b"], np.array([-2600.0, 998.0, 50.0]))
    >>> newest_offsets(recs, parsed, np.array([0, 1, 2]), wall_now=60.0)
    {'a': -3.0, 'b': -10.0}
    """
    indices = parsed.indices
    # None (no such attribute) becomes NaN, and NaN > 0 is False: this host's clock.
    written = np.array(
        [getattr(records[indices[j]], "timestamp", None) for j in rows.tolist()], dtype=np.float64
    )
    offsets = parsed.timestamps[rows] - np.where(written > 0, written / 1000.0, wall_now)
    # In ascending order, each asset's last entry in the dict is its largest.
    order = np.argsort(offsets, kind="stable")
    assets = np.asarray(parsed.asset_ids, dtype=object)[rows[order]]
    return dict(zip(assets.tolist(), offsets[order].tolist(), strict=True))


class ClockOffsets:
    """The ``asset`` series of ``gauge``: each asset's offset over its readings of the last ``window_s``
    to ``2 * window_s`` seconds (of the ``now`` given), the largest, so that a replay among live
    readings does not move it.

    Example
    -------
    >>> from prometheus_client import CollectorRegistry, Gauge
    >>> reg = CollectorRegistry()
    >>> c = ClockOffsets(Gauge("offset_seconds", "Offset.", ["asset"], registry=reg), window_s=60)
    >>> def shown(offset, now):
    ...     c.update({"a": offset, "b": offset}, now=now, listed={"a"})
    ...     return reg.get_sample_value("offset_seconds", {"asset": "a"})
    >>> shown(-2.0, now=0), shown(-3600.0, now=30)  # history replayed: still -2
    (-2.0, -2.0)
    >>> shown(-3600.0, now=70), shown(-3600.0, now=140)  # no live reading since 0
    (-2.0, -3600.0)
    >>> reg.get_sample_value("offset_seconds", {"asset": "b"}) is None  # not listed: no series
    True
    >>> c.forget({"a"}); reg.get_sample_value("offset_seconds", {"asset": "a"}) is None
    True
    """

    def __init__(self, gauge: Gauge, *, window_s: float = WINDOW_S) -> None:
        self.gauge = gauge
        self.window_s = window_s
        # asset -> (its series, [when its window began, its largest offset in it, in the window before,
        # the value its series shows])
        self._windows: dict[str, tuple[Any, list[float]]] = {}

    def update(self, offsets: Mapping[str, float], *, now: float, listed: Container[str]) -> None:
        """Add each asset's largest offset of a batch (``offsets``), for those ``listed`` (with
        per-asset series); sets their series where that changes them."""
        windows, span = self._windows, self.window_s
        for asset, offset in offsets.items():
            known = windows.get(asset)
            if known is None:
                if asset not in listed:
                    continue
                known = windows[asset] = (self.gauge.labels(asset), [now, offset, -math.inf, math.nan])
            series, window = known
            began, largest, before, value = window
            if now - began >= span:
                before = largest if now - began < 2 * span else -math.inf
                window[0], window[1], window[2] = now, offset, before
                largest = offset
            elif offset > largest:
                window[1] = largest = offset
            if max(largest, before) != value:  # most batches move no asset's largest
                window[3] = value = max(largest, before)
                series.set(value)

    def forget(self, assets: Iterable[str]) -> None:
        """Drop the series and windows of ``assets``."""
        for asset in assets:
            if self._windows.pop(asset, None) is not None:
                self.gauge.remove(asset)
