"""How far each asset's clock lies from Kafka's: ``dhag_asset_clock_offset_seconds``.

A reading's offset is its ``ts`` minus the time it was written to Kafka: the record's timestamp (the
broker's clock under LogAppendTime, the producer's under CreateTime), or this host's clock for a record
without one. A gateway whose clock is wrong dates every reading it sends off by that much. Buffering
after an outage, a replay of retained history and uploads in batches only ever make a reading older
than its record, never newer. So an asset's offset is its largest over the last one to two minutes of
its readings: a replayed or buffered batch among live ones leaves it at the live readings' offset, and
a wrong clock shows in every reading, the largest included.

A record refused for a ``ts`` more than ``records.max_future_s`` ahead counts too (when its asset id
and ``ts`` are valid), but only while none of its asset's readings of those one to two minutes was
scored: a gateway hours fast has not one reading scored, and its offset is what names it, while one
corrupt reading dated 2100 among an asset's scored ones says nothing of its clock.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from itertools import chain
from types import MappingProxyType
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

from pipeline.records import ParsedBatch
from pipeline.tablefit import TableFit

__all__ = ["WINDOW_S", "ClockOffsets", "newest_offsets", "reading_offsets"]

WINDOW_S = 60.0  # an asset's offset is its largest over the last WINDOW_S to 2 * WINDOW_S seconds
_NONE: Mapping[str, tuple[float, tuple[str, int]]] = MappingProxyType({})


def reading_offsets(
    records: Sequence[Any], indices: Sequence[int], stamps: np.ndarray, rows: np.ndarray, wall_now: float
) -> np.ndarray:
    """The offsets (seconds) of entries ``rows`` (``indices`` into ``records``, ``stamps`` their ``ts``):
    ``ts`` minus the record's Kafka timestamp, or minus ``wall_now`` for a record without one.

    >>> from collections import namedtuple
    >>> Rec = namedtuple("Rec", "timestamp")
    >>> reading_offsets([Rec(1_000_000), Rec(-1)], [0, 1], np.array([990.0, 5.0]), np.arange(2), 65.0)
    array([-10., -60.])
    """
    # None (no such attribute) becomes NaN, and NaN > 0 is False: this host's clock.
    written = np.array([getattr(records[indices[j]], "timestamp", None) for j in rows.tolist()], dtype=float)
    return stamps[rows] - np.where(written > 0, written / 1000.0, wall_now)


def newest_offsets(
    records: Sequence[Any],
    parsed: ParsedBatch,
    rows: np.ndarray,
    wall_now: float,
    offsets: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, tuple[float, tuple[str, int]]]]:
    """Each asset's largest offset (seconds) among the readings ``rows`` of ``parsed`` (parsed from
    ``records``), and apart from those, among the records ``parsed`` refused for lying ahead
    (``records.max_future_s``) with the partition of the asset's last one: ``ts`` minus its record's
    Kafka timestamp, or minus ``wall_now`` (this host's clock) for a record without one
    (:func:`reading_offsets`; ``offsets``: those of ``rows``, when already known).

    >>> from collections import namedtuple
    >>> from pipeline.records import Reason, Rejection
    >>> Rec = namedtuple("Rec", "topic partition timestamp")
    >>> recs = [Rec("in", 0, 1_000_000), Rec("in", 0, -1), Rec("in", 1, 1_001_000), Rec("in", 1, -1)]
    >>> parsed = ParsedBatch([0, 2, 3], ["a", "a", "b"], np.array([-2600.0, 998.0, 50.0]))
    >>> newest_offsets(recs, parsed, np.array([0, 1, 2]), wall_now=60.0)
    ({'a': -3.0, 'b': -10.0}, {})
    >>> parsed.rejections = [
    ...     Rejection(1, Reason.BAD_TIMESTAMP, "ahead", ahead=("c", 7260.0)),
    ...     Rejection(3, Reason.BAD_TIMESTAMP, "ahead", ahead=("a", 9e9)),
    ... ]
    >>> newest_offsets(recs, parsed, np.array([0, 1]), wall_now=60.0)
    ({'a': -3.0}, {'c': (7200.0, ('in', 0)), 'a': (8999999940.0, ('in', 1))})
    """
    if offsets is None:
        offsets = reading_offsets(records, parsed.indices, parsed.timestamps, rows, wall_now)
    scored = _largest(parsed.asset_ids, rows, offsets)
    refused = [(r.index, *r.ahead) for r in parsed.rejections if r.ahead is not None]
    if not refused:
        return scored, {}
    indices = [i for i, _, _ in refused]
    assets = [asset for _, asset, _ in refused]
    stamps = np.array([ts for _, _, ts in refused], dtype=np.float64)
    rows = np.arange(len(refused))
    ahead = _largest(assets, rows, reading_offsets(records, indices, stamps, rows, wall_now))
    where = {asset: (records[i].topic, records[i].partition) for i, asset, _ in refused}
    return scored, {asset: (offset, where[asset]) for asset, offset in ahead.items()}


def _largest(assets: Sequence[str], rows: np.ndarray, offsets: np.ndarray) -> dict[str, float]:
    """Each asset's largest of ``offsets``, those of entries ``rows`` (indices into ``assets``)."""
    picked = rows.tolist()
    # In ascending order, each asset's last entry in the dict is its largest.
    order = np.argsort(offsets, kind="stable")
    ordered = [assets[picked[j]] for j in order.tolist()]
    return dict(zip(ordered, offsets[order].tolist(), strict=True))


class ClockOffsets:
    """The ``asset`` series of ``gauge``: each asset's offset over its readings of the last ``window_s``
    to ``2 * window_s`` seconds (of the ``now`` given), the largest, so that a replay among live
    readings does not move it.

    The assets ``listed`` (those with per-asset series, a collection the caller keeps up to date) have
    one. So does an asset of a batch whose records were all refused for lying ahead (``ahead``, none
    ``scored``: :func:`newest_offsets`), while the listed assets and those ones number under
    ``limit``: a gateway hours fast has no reading scored, and its offset is all that names it (each
    one refused is counted on ``refused``). Such an asset's series goes when it is silent
    (:meth:`expire`), or listed. The offsets of records refused for lying ahead count only while the
    asset has no reading scored in those one to two windows: one corrupt reading dated decades ahead
    among scored ones says nothing of the asset's clock.

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
    >>> c.update({}, now=150, ahead={"f": (7200.0, ("in", 0))})  # only dead letters, 2 h ahead
    >>> reg.get_sample_value("offset_seconds", {"asset": "f"})
    7200.0
    >>> c.update({"a": -1.0}, now=150, ahead={"a": (3e9, ("in", 0))})  # a reading dated 2100
    >>> reg.get_sample_value("offset_seconds", {"asset": "a"})
    -1.0
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
        # asset -> (its series, [when its window began, its largest offset in it of readings scored, of
        # records refused for lying ahead, those two in the window before, the value its series shows])
        self._windows: dict[str, tuple[Any, list[float]]] = {}
        # The assets not listed with a series: asset -> (its partition, when it was last read).
        self._apart: dict[str, tuple[tuple[str, int], float]] = {}
        # Both rebuilt once a burst of asset ids has left them (pipeline.tablefit).
        self._windows_fit, self._apart_fit = TableFit(), TableFit()

    def apart_besides(self, asset: str) -> int:
        """How many assets other than ``asset`` have an offset series and are not listed (at most)."""
        return len(self._apart) - (asset in self._apart)

    def update(
        self,
        scored: Mapping[str, float],
        *,
        now: float,
        ahead: Mapping[str, tuple[float, tuple[str, int]]] = _NONE,
    ) -> None:
        """Add each asset's largest offset of a batch among its readings scored (``scored``) and, with
        its partition, among its records refused for lying ahead (``ahead``: :func:`newest_offsets`);
        sets the series where that changes them."""
        windows, span, listed, apart = self._windows, self.window_s, self.listed, self._apart
        for asset in chain(scored, (asset for asset in ahead if asset not in scored)):
            offset, far = scored.get(asset, -math.inf), ahead.get(asset)
            known = windows.get(asset)
            if known is None:
                if asset not in listed:
                    if far is None or asset in scored:
                        continue
                    if len(listed) + len(apart) >= self.limit:
                        if self.refused is not None:
                            self.refused.inc()
                        continue
                    apart[asset] = (far[1], now)
                known = windows[asset] = (self.gauge.labels(asset), [now, *[-math.inf] * 4, math.nan])
            elif asset in apart:
                if asset in listed:
                    del apart[asset]
                else:
                    apart[asset] = (apart[asset][0] if far is None else far[1], now)
            series, window = known
            if now - window[0] >= span:
                window[3:5] = window[1:3] if now - window[0] < 2 * span else [-math.inf] * 2
                window[0:3] = [now, -math.inf, -math.inf]
            window[1] = max(window[1], offset)
            if far is not None:
                window[2] = max(window[2], far[0])
            value = max(window[1], window[3])
            if value == -math.inf:  # no reading scored in either window
                value = max(window[2], window[4])
            if value != window[5]:  # most batches move no asset's largest
                window[5] = value
                series.set(value)

    def observe(
        self,
        records: Sequence[Any],
        parsed: ParsedBatch,
        rows: np.ndarray,
        *,
        wall_now: float,
        now: float,
        offsets: np.ndarray | None = None,
    ) -> None:
        """:meth:`update` with a batch: ``records``, ``parsed`` from them, its ``rows`` scored
        (:func:`newest_offsets`, with their ``offsets`` when already known)."""
        scored, ahead = newest_offsets(records, parsed, rows, wall_now, offsets)
        self.update(scored, now=now, ahead=ahead)

    def expire(self, *, before: float = -math.inf, partitions: Container[tuple[str, int]] = ()) -> None:
        """Drop the series of the assets not listed that were last read at ``before`` or earlier (an
        asset silent for ``alerts.quiet_s``), or whose partition is among ``partitions`` (revoked)."""
        self._apart_fit.note(self._apart)
        gone = []
        for asset, (tp, seen) in list(self._apart.items()):
            if asset in self.listed:
                del self._apart[asset]
            elif seen <= before or tp in partitions:
                gone.append(asset)
        self.forget(gone)

    def forget(self, assets: Iterable[str]) -> None:
        """Drop the series and windows of ``assets``."""
        self._apart_fit.note(self._apart)
        self._windows_fit.note(self._windows)
        for asset in assets:
            self._apart.pop(asset, None)
            if self._windows.pop(asset, None) is not None:
                self.gauge.remove(asset)
        self._apart = self._apart_fit.fit(self._apart)
        self._windows = self._windows_fit.fit(self._windows)
