"""An open alert episode handed over with its asset when the asset's readings move to another partition
(partitions added to the input topic: keys hash anew), and the silence resolutions this vets.

Carry-over (:mod:`pipeline.carryover`) finds an episode by the partition of its record, so the new
partition's owner would open the ongoing fault once more under a new ``alert_id``, and the old one
resolve the first episode by silence though the fault goes on. Instead:

* The new owner takes the episode over. The carry-over read, which goes through every partition of the
  alerts topic, also keeps the episodes left open on the other partitions, the latest of each asset
  (:meth:`EpisodeFold.elsewhere <pipeline.carryover.EpisodeFold.elsewhere>`), offered for
  ``alerts.quiet_s`` from the read (:meth:`HandOver.offer`). The first record of such an asset that
  comes to a partition with no state for it carries the episode on there, under its ``alert_id`` and
  ``opened_at`` (``dhag_alerts_carried_over_total``; on ``/metrics`` the asset anomalous, with its
  ``dhag_asset_suspect_sensor``, as a carried-over one), and says so again: an ``open`` event that
  repeats what the first one said, with ``source`` the record on the new partition and ``ts`` its
  time. Consumers fold it into the episode (the same ``alert_id``); a later carry-over finds the
  episode by that partition.
* Only an episode still open is taken over. The old owner may have resolved it since the carry-over
  read (by normal scores, its last readings there, or by silence): so a batch whose records would take
  episodes over first reads the alerts topic once for them (the vet's read, below), and an offer that
  an event resolved is dropped: its asset is scored afresh, as any new one. A failed read drops the
  offers asked about too (``dhag_broker_failures_total{operation="carry_over"}``): not handed over, as
  before it existed. The read, not a first reading over the threshold, decides: such a reading may be
  a stray one, or a new fault after the resolution, and would reopen the episode that is over all the
  same (an ``open`` again, the asset anomalous); and an episode whose fault ended as its asset moved
  (normal readings on the new partition, its resolution not yet written) would be left to a silence
  resolution though its asset reports, where taking it over resolves it by normal scores there. The
  read is bounded (the carry-over's budget), and made only by a batch with a take-over: moved assets
  with an open episode, within ``alerts.quiet_s`` of a partition-count increase.
* The old owner does not resolve it by silence. A silence of an episode whose asset may have moved
  (one carried over or taken over, or open when the assignment changed, as it does when partitions
  are added) is vetted first: one bounded read of the alerts topic (the carry-over's reader,
  :meth:`RebalanceHandling._latest_sources <pipeline.rebalance.RebalanceHandling._latest_sources>`)
  for the partition its latest event names. Another partition than its own: it was taken over, and
  the episode is dropped here without an event (``dhag_alerts_handed_over_total``). Its own partition
  (no take-over seen) or a failed read (counted as above): the resolution waits once,
  ``kafka.max_poll_interval_ms`` (within it a new owner's batch that took the episode over is delivered
  or given up), and the next vet decides: handed over, or resolved by silence as before (also when the
  read fails again).

Not handed over: an asset whose readings reach its new partition more than ``alerts.quiet_s`` after the
new owner's carry-over read, or only after the old owner's vet (a new owner more than
``kafka.max_poll_interval_ms`` behind on the new partition), or whose fault opened on the old partition
after the rebalance (not offered, nor vetted): it opens once more under a new ``alert_id`` and its first
episode resolves by silence, as before; nor when the new owner's read before the take-over fails.
Nor with ``alerts.carry_over_s`` off. An asset whose records reach two partitions at once (keyed other
than by it, or while producers learn of the new partitions) may have its episode taken over by the
other; if the old owner resolves it after the new owner's read, it is resolved there and said open
again here, until its resolution here (by normal scores, or by silence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from pipeline.alerts import Transition
from pipeline.frozen import FrozenSensors
from pipeline.tablefit import TableFit

if TYPE_CHECKING:
    from pipeline.batchoutput import Outgoing
    from pipeline.config import Settings
    from pipeline.heldcounts import HeldCounts
    from pipeline.metrics import PipelineMetrics
    from pipeline.trackers import Trackers

__all__ = ["HANDED_OVER", "HandOver"]

HANDED_OVER = "handed_over"  # AlertTracker.settle's verdict, and the resolution no event says


class HandOver:
    """The :class:`~pipeline.processing.BatchProcessor`'s half that hands episodes over with their
    assets (see the module), and resolves quiet and silent episodes."""

    settings: Settings
    metrics: PipelineMetrics
    counts: HeldCounts
    trackers: Trackers
    frozen: FrozenSensors
    read_until: Callable[[tuple[str, int], float], float]
    _assets: dict[tuple[str, int], set[str]]

    if TYPE_CHECKING:  # BatchProcessor's

        def _alert_message(self, transition: Transition, context: Any) -> Outgoing: ...

        def _say_unheld(self, messages: list[Outgoing]) -> None: ...

    def _init_handover(self) -> None:
        #: asset -> (partition, its open episode there, offered until): from the last carry-over read
        self.offered: dict[str, tuple[int, Transition, float]] = {}
        #: The daemon's read of the alerts topic: by alert id among those asked, the input partition
        #: its latest event names, and whether an event resolved it; None when the read failed. Unset:
        #: silences are not vetted, and nothing offered is taken over.
        self.latest_sources: Callable[[set[str]], Mapping[str, tuple[int | None, bool]] | None] | None = None
        self.hold_s = self.settings.kafka.max_poll_interval_ms / 1000
        self._asset_fits: dict[tuple[str, int], TableFit] = {}  # of _assets' sets (_forget_on)

    def offer(self, elsewhere: Mapping[str, tuple[int, Transition]], now: float) -> None:
        """Offer the episodes left open on other partitions (:meth:`EpisodeFold.elsewhere
        <pipeline.carryover.EpisodeFold.elsewhere>`), in place of those offered before, until
        ``alerts.quiet_s`` from ``now``: later, the old owner has resolved a silent one."""
        until = now + self.settings.alerts.quiet_s
        self.offered = {asset: (p, episode, until) for asset, (p, episode) in elsewhere.items()}

    def mark_movable(self) -> None:
        """The assignment changed: every open episode's asset may have moved (partitions added)."""
        for tracker in self.trackers.values():
            tracker.mark_movable()

    def _offered_to(self, rec: Any, asset: str, now: float) -> Transition | None:
        """The episode offered for ``asset`` that ``rec`` would take over: its first record on a partition
        with no state for it, other than the episode's, while offered."""
        held = self.offered.get(asset)
        if held is None or held[0] == rec.partition or now > held[2]:
            return None
        return None if asset in self.trackers.of((rec.topic, rec.partition)) else held[1]

    def check_offers(self, batch: Iterable[tuple[Any, str]], now: float) -> None:
        """Before ``batch`` (records and their assets) takes episodes over: one read of the alerts topic
        for them, and the offers dropped of those an event resolved since the carry-over read, or of all
        of them when the read fails (see the module)."""
        offers = ((self._offered_to(rec, asset, now), asset) for rec, asset in batch)
        asked = {episode.alert_id: asset for episode, asset in offers if episode is not None}
        if not asked:
            return
        latest = None if self.latest_sources is None else self.latest_sources(set(asked))
        for alert_id, asset in asked.items():
            if latest is None or latest.get(alert_id, (None, False))[1]:
                del self.offered[asset]

    def _take_over(self, rec: Any, asset: str, ts: float, now: float) -> Transition | None:
        """The episode offered for ``asset`` (:meth:`check_offers` checked), carried on on the partition
        of ``rec``, its first record there, and returned to say its ``open`` event again; None when none
        is offered to it, or when ``alerts.max_assets`` assets are held, each alerting (the reading is
        then refused state as any new asset's, and the episode stays open where it was)."""
        first = self._offered_to(rec, asset, now)
        if first is None or not self.trackers.room.admit(now, count=False):
            return None
        seed = f"{rec.topic}/{rec.partition}/{rec.offset}"
        episode = Transition(
            "open", first.alert_id, asset, first.opened_at, ts, first.score, None, context=first.context,
            source=seed, earliest_ts=first.earliest_ts,
        )  # fmt: skip
        self.trackers.of((rec.topic, rec.partition)).adopt(episode, now=now)  # kept offered: a batch
        self.frozen.seed(first)  # from the asset's next reading on
        self.counts.add(self.metrics.alerts_carried_over.inc)  # undone takes it over again
        return episode

    def _resolve_quiet(self, now: float) -> list[Outgoing]:
        if self.offered and now > next(iter(self.offered.values()))[2]:
            self.offered = {}  # the offer expired (one time for all): none is taken over now
        messages: list[Outgoing] = []
        self._say_unheld(messages)  # pipeline.ownership
        vet = self.latest_sources is not None
        due = []
        for tp, tracker in self.trackers.items():
            until = self.read_until(tp, now)
            for transition in tracker.sweep(until, vet=vet):
                self._quiet_resolution(transition, messages)
            due += [(tp, until, *silent) for silent in tracker.take_due()]
            # An asset silent for quiet_s frees its per-asset series, so a fleet whose ids change over
            # the months keeps exporting its live assets within metrics.asset_limit.
            gone = set(tracker.take_forgotten())
            if gone:
                self._forget_on(tp, gone)
                self.metrics.forget_assets(gone)
        if due:
            self._vet(due, messages)
        self.metrics.clock_offsets.expire(before=now - self.settings.alerts.quiet_s)
        return messages

    def _forget_on(self, tp: tuple[str, int], gone: set[str]) -> None:
        """Drop ``gone`` from the assets remembered on partition ``tp``, whose set is rebuilt once a
        burst of them has gone (:class:`~pipeline.tablefit.TableFit`)."""
        held = self._assets.get(tp)
        if held is not None:
            fit = self._asset_fits.setdefault(tp, TableFit())
            fit.note(held)
            held -= gone
            self._assets[tp] = fit.fit(held)

    def _quiet_resolution(self, transition: Transition, messages: list[Outgoing]) -> None:
        messages.append(self._alert_message(transition, transition.context))
        self.counts.add(self.metrics.alerts_resolved.labels(transition.resolved_by or "quiet_time").inc)
        # Held like the counts: a resolution not delivered is rolled back, and the asset stays
        # anomalous on /metrics as it stays open in the tracker.
        self.counts.add(
            partial(self.metrics.set_asset, transition.asset_id, score=transition.score, anomalous=False)
        )

    def _vet(self, due: list[tuple[Any, float, str, str, bool]], messages: list[Outgoing]) -> None:
        """Settle the silences :meth:`AlertTracker.sweep <pipeline.alerts.AlertTracker.sweep>` left:
        one read of the alerts topic for all of them (see the module)."""
        assert self.latest_sources is not None
        latest = self.latest_sources({alert_id for _, _, _, alert_id, _ in due})
        for tp, until, asset, alert_id, held in due:
            partition = None if latest is None else latest.get(alert_id, (None, False))[0]
            verdict = (
                HANDED_OVER if partition is not None and partition != tp[1] else "silence" if held else "wait"
            )
            transition = self.trackers[tp].settle(asset, verdict, until=until + self.hold_s)
            if transition is None:
                continue
            if verdict != HANDED_OVER:
                self._quiet_resolution(transition, messages)
                continue
            self.counts.add(self.metrics.alerts_handed_over.inc)
            self._forget_on(tp, {asset})
            if not any(asset in tracker for tracker in self.trackers.values()):
                self.counts.add(partial(self.metrics.forget_assets, {asset}))  # its new owner's now
