"""What a batch's scored readings say by their ``ts``: how late each was scored (the end-to-end lag),
and which are misdated, by a device clock far behind (one reset to 1970).

A reading's offset is its ``ts`` minus its record's Kafka time (``clockoffset.reading_offsets``). One
dated more than ``records.max_behind_s`` before it is misdated: a gateway back-filling after an outage
sends readings hours old, not weeks, and a backlog the daemon reads late has Kafka times as old as its
readings. A misdated reading is scored (its values are the machine's, only its date is wrong) but
counted in ``dhag_readings_misdated_total``, logged once a minute with its asset, and kept out of
``dhag_end_to_end_lag_seconds``: its "lag" is the clock's error, decades of it, not the pipeline's delay.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from pipeline.backoff import ThrottledLog
from pipeline.clockoffset import reading_offsets
from pipeline.heldcounts import HeldCounts
from pipeline.metrics import PipelineMetrics
from pipeline.records import ParsedBatch

__all__ = ["ReadingTimes"]

log = logging.getLogger("pipeline.processing")


class ReadingTimes:
    """Observe the scored readings of each batch into the lag histogram, the misdated count (held in
    ``counts`` until the batch is delivered) and the assets' clock offsets."""

    def __init__(self, metrics: PipelineMetrics, counts: HeldCounts, max_behind_s: float | None) -> None:
        self.metrics = metrics
        self.counts = counts
        self.max_behind_s = max_behind_s
        # The rules mark an asset misdated (dhag:asset_clock_offset_seconds:misdated) by this, not by
        # the setting's default.
        metrics.max_behind.set(float("inf") if max_behind_s is None else max_behind_s)
        self._log = ThrottledLog(log, 60.0)

    def observe(
        self, records: Sequence[Any], parsed: ParsedBatch, rows: np.ndarray, *, wall_now: float, now: float
    ) -> None:
        """``rows``: the entries of ``parsed`` (from ``records``) that were scored; ``wall_now``: this
        host's clock; ``now``: the daemon's (:meth:`~pipeline.clockoffset.ClockOffsets.update`)."""
        offsets = reading_offsets(records, parsed.indices, parsed.timestamps, rows, wall_now)
        stamps = parsed.timestamps[rows]
        if self.max_behind_s is not None and (misdated := offsets < -self.max_behind_s).any():
            self.counts.add(self.metrics.readings_misdated.inc, int(misdated.sum()))
            first = int(np.argmax(misdated))
            self._log.log(
                "misdated",
                logging.WARNING,
                "%d reading(s) dated over records.max_behind_s = %g s before their Kafka record time "
                "(first: asset %r, ts %s): a device clock reset? scored, but kept out of the end-to-end lag",
                *(int(misdated.sum()), self.max_behind_s, parsed.asset_ids[int(rows[first])]),
                datetime.fromtimestamp(float(stamps[first]), UTC).isoformat(),
            )
            stamps = stamps[~misdated]
        # A reading dated ahead of this host's clock (within records.max_future_s) counts as no lag: a
        # negative one would make the histogram's sum, a counter, go down.
        if stamps.size:
            self.counts.add(self.metrics.end_to_end_lag.observe_many, np.maximum(wall_now - stamps, 0.0))
        self.metrics.clock_offsets.observe(records, parsed, rows, wall_now=wall_now, now=now, offsets=offsets)
