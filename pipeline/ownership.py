"""The :class:`~pipeline.processing.BatchProcessor`'s half that follows partition ownership: the alert
state and per-asset series of partitions taken away are forgotten, and the open episodes of partitions
that came without their state are carried on (:mod:`pipeline.carryover`).

Carried episodes hold alert state as any asset does, within ``alerts.max_assets``
(:mod:`pipeline.alertroom`): after a flood of made-up asset ids, the alerts topic may hold more open
episodes than the cap (opened under several replicas, or a cap since lowered, or left open by a
carry-over read that failed). The newest opened are carried on first, assets without an open alert
evicted for them; those left over are refused, counted (``dhag_alert_states_refused_total``) and said,
and resolved on the topic (``resolved_by``: :data:`NOT_CARRIED_OVER`, with the next batch's or idle
sweep's events): no daemon holds them, and left open they would stay open there for good. The
resolution is dated when they were refused (this host's clock, or the open event's ``ts`` if later), so
that the asset's readings until then, which the earlier owner held in the episode, stay out of the
retraining sample; the asset is then refused alert state as any new one is, until room is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.alertevents import first_suspect
from pipeline.alerts import Transition
from pipeline.frozen import FrozenSensors

if TYPE_CHECKING:
    from pipeline.batchoutput import Outgoing
    from pipeline.heldcounts import HeldCounts
    from pipeline.hotswap import ActiveModel
    from pipeline.metrics import PipelineMetrics
    from pipeline.tablefit import TableFit
    from pipeline.trackers import Trackers

__all__ = ["NOT_CARRIED_OVER", "Ownership"]

log = logging.getLogger(__name__)

#: The ``resolved_by`` of an episode refused at a carry-over (see the module).
NOT_CARRIED_OVER = "not_carried_over"


class Ownership:
    """Partitions taken away and given (mixed into :class:`~pipeline.processing.BatchProcessor`)."""

    metrics: PipelineMetrics
    counts: HeldCounts
    trackers: Trackers
    active: ActiveModel
    frozen: FrozenSensors
    _assets: dict[tuple[str, int], set[str]]
    _asset_fits: dict[tuple[str, int], TableFit]
    #: The resolutions of the episodes refused at a carry-over, by partition, not yet said.
    _unheld: list[tuple[tuple[str, int], Transition]]

    if TYPE_CHECKING:  # BatchProcessor's

        def _alert_message(self, transition: Transition, context: Any) -> Outgoing: ...

    def drop_partitions(self, partitions: Sequence[tuple[str, int]]) -> None:
        """Forget alert state of partitions this consumer no longer owns; their assets start fresh."""
        gone = set(partitions)  # their new owner reads the refused episodes back
        self._unheld = [(tp, t) for tp, t in self._unheld if tp not in gone]
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
        (:mod:`pipeline.carryover`); returns how many episodes (an asset with state here keeps it; those
        beyond ``alerts.max_assets`` are refused and resolved, see the module)."""
        tracker = self.trackers.of(tp)
        room = self.trackers.room
        fresh = list({e.asset_id: e for e in reversed(episodes) if e.asset_id not in tracker}.values())
        space = room.space()
        if space is not None and len(fresh) > space:
            kept = sorted(fresh, key=lambda e: e.opened_at, reverse=True)[: max(0, space)]
            left = {e.asset_id for e in fresh} - {e.asset_id for e in kept}
            episodes = [e for e in episodes if e.asset_id not in left]
            room.refuse(len(left))
            wall = time.time()
            self._unheld += [(tp, _unheld(e, wall)) for e in fresh if e.asset_id in left]
            log.warning(
                "partition %s: %d open alert episode(s) not carried on, the oldest opened: alerts.max_assets "
                "(%d) assets held with those carried, each with an open alert; they are resolved on the "
                "alerts topic as not_carried_over (runbook DhagAlertStatesEvicted)",
                f"{tp[0]}/{tp[1]}",
                len(left),
                room.limit,
            )
        carried = [
            e for e in episodes if (e.asset_id in tracker or room.admit(now)) and tracker.adopt(e, now=now)
        ]
        for asset_id, (offset, ts) in replayed.items():  # a mark is alert state too: within the cap
            if asset_id in tracker or room.admit(now):
                tracker.replayed(asset_id, offset, ts=ts, now=now)
        evicted, refused = room.take_counts()
        self.counts.add(self.metrics.alert_states_evicted.inc, evicted)
        self.counts.add(self.metrics.alert_states_refused.inc, refused)
        for episode in carried:  # remembered listed or not: an unlisted one counts while anomalous
            self.frozen.seed(episode)  # a sensor it found stuck goes on being judged stuck
            if self.metrics.set_asset(episode.asset_id, score=episode.score, anomalous=True):
                self.metrics.set_suspect(episode.asset_id, first_suspect(episode.context, self.active.inputs))
            self._assets.setdefault(tp, set()).add(episode.asset_id)
        return len(carried)

    def _say_unheld(self, messages: list[Outgoing]) -> None:
        """Append the events of the episodes refused at a carry-over and not yet said to ``messages``
        (held as a batch's output: undone by a rollback, :meth:`unheld_point`)."""
        for _, transition in self._unheld:
            messages.append(self._alert_message(transition, transition.context))
            self.counts.add(self.metrics.alerts_resolved.labels(NOT_CARRIED_OVER).inc)
        self._unheld = []

    def unheld_point(self) -> list[tuple[tuple[str, int], Transition]]:
        """What a savepoint keeps of the resolutions owed (:meth:`_say_unheld`), to put back."""
        return list(self._unheld)


def _unheld(episode: Transition, wall: float) -> Transition:
    """The resolution of ``episode``, refused at a carry-over at ``wall`` (this host's clock)."""
    start = episode.opened_at if episode.earliest_ts is None else min(episode.opened_at, episode.earliest_ts)
    return Transition(
        "resolved", episode.alert_id, episode.asset_id, episode.opened_at, max(episode.ts, wall),
        episode.score, None, NOT_CARRIED_OVER, episode.context, episode.source,
        earliest_ts=start,
    )  # fmt: skip
