"""How far each asset's clock lies from Kafka's: ``dhag_asset_clock_offset_seconds``.

A reading's offset is its ``ts`` minus the time it was written to Kafka: the record's timestamp (the
broker's clock under LogAppendTime, the producer's under CreateTime), or this host's clock for a record
without one. A gateway whose clock is wrong dates every reading it sends off by that much. Buffering
after an outage, a replay of retained history and uploads in batches only ever make a reading older
than its record, never newer. So an asset's offset is its largest over the last one to two minutes of
its readings: a replayed or buffered batch among live ones leaves it at the live readings' offset, and
a wrong clock shows in every reading, the largest included.

A record refused for a ``ts`` more than ``records.max_future_s`` ahead counts too (when its asset id
and ``ts`` are valid): a gateway hours fast has not one reading scored, and its offset is what names it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

from pipeline.records import ParsedBatch

__all__ = ["WINDOW_S", "ClockOffsets", "newest_offsets"]

WINDOW_S = 60.0  # an asset's offset is its largest over the last WINDOW_S to 2 * WINDOW_S seconds
_NONE: Mapping[str, tuple[str, int]] = MappingProxyType({})


def newest_offsets(
    records: Sequence[Any], parsed: ParsedBatch, rows: np.ndarray, wall_now: float
) -> tuple[dict[str, float], dict[str, tuple[str, int]]]:
    """Each asset's largest offset (seconds) among the readings ``rows`` of ``parsed`` (parsed from
    ``records``) and the records ``parsed`` refused for lying ahead (``records.max_future_s``): ``ts``
    minus its record's Kafka timestamp, or minus ``wall_now`` (this host's clock) for a record without
    one. And the partition of each asset none of whose readings is among ``rows``: the batch's records of
    it were all refused for lying ahead.

    >>> from collections import namedtuple
    >>> from pipeline.records import Reason, Rejection
    >>> Rec = namedtuple("Rec", "topic partition timestamp")
    >>> recs = [Rec("in", 0, 1_000_000), Rec("in", 0, -1), Rec("in", 1, 1_001_000), Rec("in", 1, -1)]
    >>> parsed = ParsedBatch([0, 2, 3], ["a", "a", "b"], np.array([-2600.0, 998.0, 50.0]))
    >>> newest_offsets(recs, parsed, np.array([0, 1, 2]), wall_now=60.0)
    ({'a': -3.0, 'b': -10.0}, {})
    >>> parsed.rejections = [Rejection(1, Reason.BAD_TIMESTAMP, "ahead", ahead=("c", 7260.0))]
    >>> newest_offsets(recs, parsed, np.array([0, 1]), wall_now=60.0)
    ({'a': -3.0, 'c': 7200.0}, {'c': ('in', 0)})
    """
    ahead = [(r.index, *r.ahead) for r in parsed.rejections if r.ahead is not None]
    picked = rows.tolist()
    indices = [parsed.indices[j] for j in picked] + [i for i, _, _ in ahead]
    assets = [parsed.asset_ids[j] for j in picked] + [asset for _, asset, _ in ahead]
    stamps = np.concatenate([parsed.timestamps[rows], np.array([ts for _, _, ts in ahead])])
    # None (no such attribute) becomes NaN, and NaN > 0 is False: this host's clock.
    written = np.array([getattr(records[i], "timestamp", None) for i in indices], dtype=np.float64)
    offsets = stamps - np.where(written > 0, written / 1000.0, wall_now)
    # In ascending order, each asset's last entry in the dict is its largest.
    order = np.argsort(offsets, kind="stable")
    ordered = np.asarray(assets, dtype=object)[order].tolist()
    largest = dict(zip(ordered, offsets[order].tolist(), strict=True))
    if not ahead:
        return largest, {}
    scored = set(assets[: len(picked)])
    return largest, {
        asset: (records[i].topic, records[i].partition) for i, asset, _ in ahead if asset not in scored
    }


class ClockOffsets:
    """The ``asset`` series of ``gauge``: each asset's offset over its readings of the last ``window_s``
    to ``2 * window_s`` seconds (of the ``now`` given), the largest, so that a replay among live
    readings does not move it.

    The assets ``listed`` (those with per-asset series, a collection the caller keeps up to date) have
    one. So does an asset whose records were all refused for lying ahead (:func:`newest_offsets`'s
    ``unscored``), while the listed assets and those ones number under ``limit``: a gateway hours
    fast has no reading scored, and its offset is all that names it (each one refused is counted on
    ``refused``). Such an asset's series goes when it is silent (:meth:`expire`), or listed.

    Example
    -------
    >>> from prometheus_client import CollectorRegistry, Gauge
    >>> reg = CollectorRegistry()
    >>> gauge = Gauge("offset_seconds", "Offset.", ["asset"], registry=reg)
    >>> c = ClockOffsets(gauge, listed={"a"}, window_s=60)
    >>> def shown(offset, now, asset="a"):
    ...     c.update({"a": offset, "b": offset}, now=now)
    ...     return reg.get_sample_value("offset_seconds", {"asset": asset})
    >>> shown(-2.0, now=0), shown(-3600.0, now=30)  # history replayed: still -2
    (-2.0, -2.0)
    >>> shown(-3600.0, now=70), shown(-3600.0, now=140)  # no live reading since 0
    (-2.0, -3600.0)
    >>> shown(-3600.0, now=150, asset="b") is None  # not listed: no series
    True
    >>> c.update({"f": 7200.0}, now=150, unscored={"f": ("in", 0)})  # only dead letters, 2 h ahead
    >>> reg.get_sample_value("offset_seconds", {"asset": "f"})
    7200.0
    >>> c.expire(before=150); reg.get_sample_value("offset_seconds", {"asset": "f"}) is None
    True
    >>> c.forget({"a"}); reg.get_sample_value("offset_seconds", {"asset": "a"}) is None
    True
    """

    def __init__(
        self,
        gauge: Gauge,
        *,
        listed: Collection[str] = frozenset(),
        limit: float = math.inf,
        refused: Counter | None = None,
        window_s: float = WINDOW_S,
    ) -> None:
        self.gauge = gauge
        self.listed = listed
        self.limit = limit
        self.refused = refused
        self.window_s = window_s
        # asset -> (its series, [when its window began, its largest offset in it, in the window before,
        # the value its series shows])
        self._windows: dict[str, tuple[Any, list[float]]] = {}
        # The assets not listed with a series: asset -> (its partition, when it was last read).
        self._apart: dict[str, tuple[tuple[str, int], float]] = {}

    def apart_besides(self, asset: str) -> int:
        """How many assets other than ``asset`` have an offset series and are not listed (at most)."""
        return len(self._apart) - (asset in self._apart)

    def update(
        self, offsets: Mapping[str, float], *, now: float, unscored: Mapping[str, tuple[str, int]] = _NONE
    ) -> None:
        """Add each asset's largest offset of a batch (``offsets``), and ``unscored``'s partition of the
        assets of that batch with no reading scored (:func:`newest_offsets`); sets the series where
        that changes them."""
        windows, span, listed, apart = self._windows, self.window_s, self.listed, self._apart
        for asset, offset in offsets.items():
            known = windows.get(asset)
            if known is None:
                if asset not in listed:
                    if asset not in unscored:
                        continue
                    if len(listed) + len(apart) >= self.limit:
                        if self.refused is not None:
                            self.refused.inc()
                        continue
                    apart[asset] = (unscored[asset], now)
                known = windows[asset] = (self.gauge.labels(asset), [now, offset, -math.inf, math.nan])
            elif asset in apart:
                if asset in listed:
                    del apart[asset]
                else:
                    apart[asset] = (unscored.get(asset, apart[asset][0]), now)
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

    def observe(
        self, records: Sequence[Any], parsed: ParsedBatch, rows: np.ndarray, *, wall_now: float, now: float
    ) -> None:
        """:meth:`update` with a batch: ``records``, ``parsed`` from them, its ``rows`` scored
        (:func:`newest_offsets`)."""
        offsets, unscored = newest_offsets(records, parsed, rows, wall_now)
        self.update(offsets, now=now, unscored=unscored)

    def expire(self, *, before: float = -math.inf, partitions: Container[tuple[str, int]] = ()) -> None:
        """Drop the series of the assets not listed that were last read at ``before`` or earlier (an
        asset silent for ``alerts.quiet_s``), or whose partition is among ``partitions`` (revoked)."""
        for asset, (tp, seen) in list(self._apart.items()):
            if asset in self.listed:
                del self._apart[asset]
            elif seen <= before or tp in partitions:
                self.forget([asset])

    def forget(self, assets: Iterable[str]) -> None:
        """Drop the series and windows of ``assets``."""
        for asset in assets:
            self._apart.pop(asset, None)
            if self._windows.pop(asset, None) is not None:
                self.gauge.remove(asset)
