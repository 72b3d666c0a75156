"""The :class:`~pipeline.processing.BatchProcessor`'s half that follows partition ownership: the alert
state and per-asset series of partitions taken away are forgotten, and the open episodes of partitions
that came without their state are carried on (:mod:`pipeline.carryover`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pipeline.alertevents import first_suspect
from pipeline.alerts import Transition

if TYPE_CHECKING:
    from pipeline.hotswap import ActiveModel
    from pipeline.metrics import PipelineMetrics
    from pipeline.tablefit import TableFit
    from pipeline.trackers import Trackers

__all__ = ["Ownership"]


class Ownership:
    """Partitions taken away and given (mixed into :class:`~pipeline.processing.BatchProcessor`)."""

    metrics: PipelineMetrics
    trackers: Trackers
    active: ActiveModel
    _assets: dict[tuple[str, int], set[str]]
    _asset_fits: dict[tuple[str, int], TableFit]

    def drop_partitions(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Forget alert state of partitions this consumer no longer owns; their assets start fresh."""
        for tp in partitions:
            self.trackers.pop(tp, None)
            self.metrics.forget_assets(self._assets.pop(tp, set()))
            self._asset_fits.pop(tp, None)
        self.metrics.clock_offsets.expire(partitions=partitions)

    def carry_over(
        self,
        tp: tuple[str, int],
        episodes: Sequence[Transition],
        now: float,
        replayed: Mapping[str, tuple[int, float]],
    ) -> int:
        """Carry on open ``episodes`` of an earlier owner of partition ``tp``, and take the records of
        each ``replayed`` asset up to its offset and record time as accounted for by a resolved one
        (:mod:`pipeline.carryover`); returns how many episodes (an asset with state here keeps it)."""
        tracker = self.trackers.of(tp)
        carried = [e for e in episodes if tracker.adopt(e, now=now)]
        for asset_id, (offset, ts) in replayed.items():
            tracker.replayed(asset_id, offset, ts=ts, now=now)
        for episode in carried:  # remembered listed or not: an unlisted one counts while anomalous
            if self.metrics.set_asset(episode.asset_id, score=episode.score, anomalous=True):
                self.metrics.set_suspect(episode.asset_id, first_suspect(episode.context, self.active.inputs))
            self._assets.setdefault(tp, set()).add(episode.asset_id)
        return len(carried)
