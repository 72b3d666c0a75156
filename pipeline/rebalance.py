"""What the scoring daemon does when the group's partitions move: which alert state goes and which stays.

An asset's alert state (its hysteresis window, its open episode) belongs to the consumer that scored
its records. When a partition goes to another member, its state goes: the other member takes it up
from the committed offset, with the episodes still open on the alerts topic (:mod:`pipeline.carryover`),
and this one must not resolve or reopen episodes on records it no longer sees. A partition that comes
straight back keeps its state, though: kafka-python's default assignors revoke every partition on
every rebalance (a replica joining or leaving, a rollout) and mostly hand the same ones back, and the
live state is exact where the alerts topic is not (it holds no hysteresis window), and costs no read.

The rule: a revoked partition whose every processed record is committed is *held over*. When the
assignment comes, it keeps its state if it is assigned again, nobody committed past this consumer's
last commit (no other member scored its records meanwhile), and this consumer processed nothing past
it. Anything else starts afresh from the episodes the alerts topic leaves open, as does a partition
lost (without a revoke), or revoked with uncommitted records. The same rule carries the state across
a replaced consumer (:meth:`Daemon._restart_consumer <pipeline.daemon.Daemon._restart_consumer>`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from pipeline.alerts import parse_position
from pipeline.batchlimit import POLL_BUDGET_SHARE
from pipeline.carryover import EpisodeFold, read_alert_events
from pipeline.endoffsets import left_ms
from pipeline.recordjson import is_schema_1
from pipeline.warmupread import take_up

if TYPE_CHECKING:
    from pipeline.brokerlink import BrokerHealth
    from pipeline.config import KafkaSettings, Settings
    from pipeline.dlqpause import DlqPause
    from pipeline.heldclock import HeldClock
    from pipeline.metrics import PipelineMetrics
    from pipeline.positions import PositionWatch
    from pipeline.processing import BatchProcessor
    from pipeline.readthrough import ReadThrough

__all__ = ["CARRY_OVER_FLOOR_MS", "REBALANCE", "Listener", "RebalanceHandling"]

log = logging.getLogger(__name__)

#: Under this much time left before the next poll, the carry-over read is not tried (the partitions
#: start afresh, as after a failed read): it could not read the alerts topic in it.
CARRY_OVER_FLOOR_MS = 100

REBALANCE = "rebalance"  # what holds the daemon's stall clock (pipeline.stalls): no assignment yet


class Listener(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread: records the change; the loop thread applies it."""

    def __init__(self, daemon: RebalanceHandling) -> None:
        self.daemon = daemon

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.daemon._on_revoked(set(revoked), lost=False)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.daemon._on_assigned(set(assigned))

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        self.daemon._on_revoked(set(lost), lost=True)


class RebalanceHandling:
    """The daemon's half that follows the assignment (see the module); state is the daemon's."""

    consumer: KafkaConsumer | None
    settings: Settings
    kafka: KafkaSettings
    bootstrap_servers: str
    processor: BatchProcessor
    metrics: PipelineMetrics
    health: BrokerHealth
    dlq_pause: DlqPause
    _lock: threading.Lock
    _pending: dict[TopicPartition, int]
    _dropped: set[TopicPartition]
    _dropped_named: set[TopicPartition]  # dropped while assignment() still named them (see below)
    _committed: dict[TopicPartition, int]
    _held_over: dict[TopicPartition, int]
    _owed: dict[TopicPartition, int]  # per partition, the offset past a refused batch (pipeline.batchcommit)
    _assignment_changed: bool
    _joined: bool
    _assigned: bool
    _join_since: float | None  # time.monotonic(): a join under way since (pipeline.stalls)
    _join_answered: bool  # the group answered since the last revoke; applied next
    _owned: set[TopicPartition]
    _stop: threading.Event
    stall_clock: HeldClock
    positions: PositionWatch
    read_through: ReadThrough

    if TYPE_CHECKING:  # StallHandling's

        def _look_ms(self) -> int: ...

    # -- called on the IO thread ---------------------------------------------------------------------
    def _on_revoked(self, partitions: set[TopicPartition], *, lost: bool) -> None:
        with self._lock:
            pending = {tp: self._pending.pop(tp) for tp in partitions if tp in self._pending}
            settled = set() if lost else {tp for tp in partitions - set(pending) if tp in self._committed}
            if settled:
                self._held_over.update({tp: self._committed[tp] for tp in settled})
                self._joined = False  # the assignment to come decides (_moved_on)
            self._dropped |= partitions - settled
            self._assignment_changed = True
            # A join begins (kafka-python revokes before it joins, an empty set too): its time limit
            # counts from the first revoke until an assignment is applied (pipeline.stalls).
            if self._join_since is None:
                self._join_since = time.monotonic()
            self._join_answered = False
            if partitions:  # an assignment not applied yet is being taken back: wait for the next one
                self._assigned = False
                self.stall_clock.hold(REBALANCE)  # until the assignment comes (pipeline.stalls)
        if pending and not lost and self.consumer is not None:
            self.consumer.commit_async({tp: OffsetAndMetadata(o, "", -1) for tp, o in pending.items()})
        log.info("partitions %s: %s", "lost" if lost else "revoked", sorted(p.partition for p in partitions))

    def _on_assigned(self, partitions: set[TopicPartition]) -> None:
        with self._lock:
            self._assignment_changed = True
            self._joined = True
            self._assigned = True
            self._join_answered = True
        log.info("partitions assigned: %s", sorted(p.partition for p in partitions))

    # -- on the loop thread ----------------------------------------------------------------------------
    def _apply_rebalances(self) -> bool:
        """Drop the alert state of partitions gone or moved on; keep pauses over new ones; carry over
        the open episodes of partitions new here. True when that read the alerts topic."""
        with self._lock:
            if not self._assignment_changed:
                return False
            dropped, self._dropped = self._dropped, set()
            self._assignment_changed = False
            held_over = self._held_over if self._joined else {}
            if held_over:
                self._held_over = {}
            undecided = set(self._held_over)
            assigned, self._assigned = self._assigned, False
            if assigned:  # under the lock: a revoke coming meanwhile holds the clock again
                self.stall_clock.release(REBALANCE)
            answered, self._join_answered = self._join_answered, False
            if answered:  # the join is over (a revoke since would have taken the answer back)
                self._join_since = None
        if answered and self.health.failing("join"):
            self.health.success("join")  # a join that failed is over only once the group answers
        assert self.consumer is not None
        assignment = self.consumer.assignment()
        # The committed-offset reads and the carry-over read hold up the next poll together: one budget.
        deadline = time.monotonic() + self._look_ms() / 1000
        dropped |= self._moved_on(held_over, assignment, deadline)
        if assigned:  # nothing kept of a partition neither assigned nor waiting for the decision
            dropped |= self._owned - assignment - undecided
        live = self._owned - dropped  # the partitions whose alert state this consumer kept
        # Between a revoke and the group's answer, assignment() still names the partitions held before:
        # what this consumer owns, and what it carries over, are decided only once the answer came.
        self._owned = assignment | undecided if assigned else live
        gone = {tp for tp in dropped if tp not in assignment}
        # A partition dropped while assignment() still names it (a revoke the group has not answered
        # yet) keeps its lag series until the answer says whether it stays here.
        self._dropped_named |= dropped & assignment
        if assigned:
            gone |= self._dropped_named - assignment
            self._dropped_named = set()
        # A revoked partition that comes back with uncommitted records starts fresh too: they may have
        # been handled elsewhere in between. What this consumer committed there is forgotten with it: an
        # old offset kept would hold back the commits of a partition back from a member that set its
        # offset lower; what it owed there went to the member that reads it now.
        self.processor.drop_partitions([(tp.topic, tp.partition) for tp in dropped])
        with self._lock:
            for tp in dropped:
                self._committed.pop(tp, None)
        for tp in gone:
            self._owed.pop(tp, None)
        self.read_through.forget(dropped)
        for tp in gone:
            self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self.metrics.assigned_partitions.set(len(assignment))
        if assigned:  # a partition new here gets its grace period from now (pipeline.stalls)
            self.positions.rejoined(assignment, self.stall_clock())
            self.processor.mark_movable()  # partitions may have been added: assets moved (handover)
        if self.dlq_pause.active and assignment:
            self.consumer.pause(*assignment)
        if not assigned:
            return False
        read = self._carry_over(assignment - live, deadline)
        return self._read_back(assignment - live, deadline) or read

    def _carry_over(self, partitions: set[TopicPartition], deadline: float | None = None) -> bool:
        """Carry on the episodes still open on ``partitions``, which came without their alert state
        (:mod:`pipeline.carryover`); when the alerts topic cannot be read, they start afresh. True when
        the topic was read (or tried).

        The read holds up the next poll: it gets a share of the poll interval, as a batch does, and no
        more than is left before ``deadline`` (time.monotonic(): the budget it shares with the reads of
        the committed offsets before it). With less than :data:`CARRY_OVER_FLOOR_MS` left it is not
        tried, and the partitions start afresh as after a failed read."""
        lookback = self.settings.alerts.carry_over_s
        mine = sorted(tp.partition for tp in partitions if tp.topic == self.kafka.topics.input)
        if lookback is None or not mine:
            return False
        budget = min(self.kafka.request_timeout_ms, POLL_BUDGET_SHARE * self.kafka.max_poll_interval_ms)
        if deadline is not None:
            budget = min(budget, left_ms(deadline))
        held = self.settings.alerts.max_assets  # the trackers hold no more (pipeline.alertroom)
        # elsewhere: the episodes left open on other partitions (pipeline.handover)
        fold = EpisodeFold(self.kafka.topics.input, mine, elsewhere=True, max_assets=held)
        try:
            if budget < CARRY_OVER_FLOOR_MS:
                raise KafkaTimeoutError(
                    f"no time left before the next poll ({max(0, int(budget))} ms) to read them"
                )
            since = time.time() - lookback
            read_alert_events(
                self.kafka,
                self.bootstrap_servers,
                since=since,
                timeout_s=budget / 1000,
                on_event=fold.add,
                stopping=self._stop.is_set,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the read met, scoring goes on without it
            if self._stop.is_set():  # given up for the shutdown: no failure, nothing more to score
                log.info("partitions %s: reading their open alert episodes given up to stop", mine)
                return True
            self.metrics.broker_failures.labels("carry_over").inc()
            self.health.refusals.once("carry_over", exc)  # an ACL on the alerts topic says so
            self.metrics.mark_carry_over_failed()
            log.warning(
                "partitions %s: cannot read their open alert episodes from %s, so they start afresh (an "
                "ongoing fault opens again under a new alert_id): %s",
                mine,
                self.kafka.topics.alerts,
                exc,
            )
            return True
        found, replayed, now = fold.result(), fold.replayed(), self.processor.clock()
        topic = self.kafka.topics.input
        carried = sum(
            self.processor.carry_over((topic, p), found.get(p, []), now, replayed.get(p, {})) for p in mine
        )
        self.metrics.alerts_carried_over.inc(carried)
        self.processor.offer(fold.elsewhere(), now)
        alerts = self.kafka.topics.alerts
        log.info("partitions %s: %d open alert episode(s) carried on from %s", mine, carried, alerts)
        if fold.evicted:
            log.warning(
                "partitions %s: %s names more assets with resolved episodes than alerts.max_assets (%d): "
                "the resolutions of the %d met longest before were not kept (their records met again "
                "after a crash may open an episode again); open episodes are all kept",
                *(mine, alerts, held, fold.evicted),
            )
        return True

    def _read_back(self, partitions: set[TopicPartition], deadline: float) -> bool:
        """Note the machines of ``partitions`` (come without their state) that stood still in the last
        ``alerts.warmup_s`` before their committed offsets (:func:`pipeline.warmupread.take_up`), in the
        time left before ``deadline``. True when it asked the broker."""
        return take_up(self, partitions, deadline, floor_ms=CARRY_OVER_FLOOR_MS)

    def _latest_sources(self, alert_ids: set[str]) -> dict[str, tuple[int | None, bool]] | None:
        """By alert id of ``alert_ids``, of its events on the alerts topic of the last
        ``alerts.carry_over_s``: the input partition that the latest one naming one names (its
        ``source``; None: none does), and whether one resolved it; None when the read failed (counted as
        a carry-over's). One read as the carry-over's, in as much time (:mod:`pipeline.handover`)."""
        lookback = self.settings.alerts.carry_over_s
        assert lookback is not None
        budget = min(self.kafka.request_timeout_ms, POLL_BUDGET_SHARE * self.kafka.max_poll_interval_ms)
        latest: dict[str, tuple[int | None, bool]] = {}

        def add(event: dict) -> None:
            alert_id = event.get("alert_id")
            if not isinstance(alert_id, str) or alert_id not in alert_ids or not is_schema_1(event):
                return
            partition, resolved = latest.get(alert_id, (None, False))
            where = parse_position(event.get("source"))
            if where is not None and where[0] == self.kafka.topics.input:
                partition = where[1]  # type: ignore[assignment]
            latest[alert_id] = (partition, resolved or event.get("state") == "resolved")

        try:
            read_alert_events(
                self.kafka,
                self.bootstrap_servers,
                since=time.time() - lookback,
                timeout_s=budget / 1000,
                on_event=add,
                stopping=self._stop.is_set,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the read met, scoring goes on without it
            if not self._stop.is_set():  # given up for the shutdown: no failure
                self.metrics.broker_failures.labels("carry_over").inc()
                self.health.refusals.once("carry_over", exc)
            alerts = self.kafka.topics.alerts
            log.warning("cannot read %s to hand %d alert episode(s) over: %s", alerts, len(alert_ids), exc)
            return None
        return latest

    def _moved_on(
        self, held_over: dict[TopicPartition, int], assignment: set[TopicPartition], deadline: float
    ) -> set[TopicPartition]:
        """Of the partitions held over, those whose alert state must go: not assigned again, committed
        past where this consumer left them (another member scored records), or processed past it here
        (a batch that ended after the revoke: its commit failed, or moved the offset on).

        The committed offsets are read before the next poll: all the reads together get the time until
        ``deadline`` (time.monotonic(); the time a look at the positions gets, :meth:`StallHandling
        ._look_ms <pipeline.stalls.StallHandling._look_ms>`, shared with the carry-over read after
        them), not a request timeout each. A partition whose offset was not read in that time, as one
        whose read failed, starts afresh (whether another member scored it is unknown)."""
        if not held_over:
            return set()
        assert self.consumer is not None
        moved, unread = set(), []
        # In partition order: which ones a short budget leaves unread does not depend on hashing.
        for tp, offset in sorted(held_over.items()):
            if tp not in assignment or self._committed.get(tp) != offset:
                moved.add(tp)
                continue
            time_left_ms = left_ms(deadline)
            if time_left_ms <= 0:
                unread.append(tp.partition)
                moved.add(tp)
                continue
            try:
                same = self.consumer.committed(tp, timeout_ms=time_left_ms) == offset
            except KafkaError as exc:
                log.warning("cannot read the committed offset of %s: %s", tp, exc)
                same = False
            if not same:
                moved.add(tp)
        if unread:
            log.warning(
                "no time left before the next poll to read the committed offsets of partitions %s: "
                "their alert state starts afresh, as after a move to another member",
                sorted(unread),
            )
        kept = sorted(tp.partition for tp in set(held_over) - moved)
        if kept:
            log.info("partitions %s came back unchanged: their alert episodes carry on", kept)
        return moved
