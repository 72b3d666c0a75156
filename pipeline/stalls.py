"""The scoring daemon's stall watch: a consumer that stops fetching is replaced.

Once a period the daemon looks where it stands (:mod:`pipeline.positions`) and replaces its consumer
when records wait and it does not fetch them: nothing at all fetched for a period (decided after an
empty poll, on records that waited at the look before, or at one :data:`CONFIRM_S` later), no
partition with records waiting moved for two periods, one partition with records waiting unmoved
while the records fetched ahead of it were read (:mod:`pipeline.positions`), or a partition's position
unknown for a period (kafka-python never fetches such a partition). Partitions that stood still
through a replacement made for them are judged again only after a hold-off that doubles while
replacements do not help (:mod:`pipeline.positions`).

The timers run on the daemon's *stall clock*, which stands still from a revoke (or a new consumer
subscribing) until the group's assignment is applied: a slow join is no stall, and the join's end is
where a new consumer's grace period starts. Only progress resets them; a partition gets one grace
period when it comes (not one per rebalance: a consumer that never fetches through a rebalance storm
is replaced like any other).

A join that never ends would so hold off every look for good: the daemon would read nothing, judge
nothing, and never exit. So a join may last :func:`join_limit_s` (twice ``kafka.max_poll_interval_ms``
and a request: what the group allows a healthy one), counted on the real clock from the revoke that
began it (or from a new consumer's subscribe) until an assignment is applied, less the time no broker
was reachable meanwhile (the join cannot go on without them); longer, it is logged as an error, counts
as a failure of the ``join``, and the consumer is replaced. That outage ends only with an assignment,
so a join that keeps failing ends the run after ``kafka.unavailable_exit_s`` (exit code 3), for the
supervisor to start the process afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from pipeline.backoff import ThrottledLog
from pipeline.batchlimit import POLL_BUDGET_SHARE, BatchLimit
from pipeline.brokerlink import AUTHENTICATION_FAILURES, authentication_refused, known_position
from pipeline.endoffsets import positions_waiting
from pipeline.positions import PositionWatch, caught_up, stalled
from pipeline.rebalance import REBALANCE, Listener

if TYPE_CHECKING:
    from pipeline.brokerlink import BrokerHealth
    from pipeline.config import KafkaSettings
    from pipeline.heldclock import HeldClock
    from pipeline.metrics import PipelineMetrics
    from pipeline.readthrough import ReadThrough

__all__ = ["StallHandling", "join_limit_s"]

log = logging.getLogger("pipeline.daemon")

# How soon a look that finds records new since the last one, on a partition that fetched nothing for a
# period, looks again: a healthy consumer has fetched them by then (the broker answers a waiting fetch
# as soon as records come).
CONFIRM_S = 5.0
# A look ends by this share of kafka.max_poll_interval_ms after the poll before it returned (the rest is
# for what follows it before the next poll); with less than LOOK_MIN_MS left it waits for the next turn,
# after a smaller batch (StallHandling._put_off_look).
LOOK_BY_SHARE = 0.75
LOOK_MIN_MS = 500


def join_limit_s(kafka: KafkaSettings) -> float:
    """How long a join of the consumer group may take before the daemon gives up on it: twice
    ``kafka.max_poll_interval_ms`` and a request.

    kafka-python sends the group's rebalance timeout as ``max_poll_interval_ms``: the broker holds the
    join phase open that long at most for the members to rejoin (kafka-python waits that and 5 s for the
    JoinGroup answer), and the sync phase, waiting for the leader's assignment, about as long again;
    the request timeout covers finding the coordinator and the round trips.

    >>> from pipeline.config import KafkaSettings
    >>> join_limit_s(KafkaSettings())
    90.0
    """
    return (2 * kafka.max_poll_interval_ms + kafka.request_timeout_ms) / 1000


class StallHandling:
    """The daemon's half that replaces a stalled consumer (see the module); state is the daemon's."""

    consumer: KafkaConsumer | None
    bootstrap_servers: str
    kafka: KafkaSettings
    metrics: PipelineMetrics
    health: BrokerHealth
    positions: PositionWatch
    stall_clock: HeldClock
    clock: HeldClock
    read_through: ReadThrough
    _stop: threading.Event
    _lock: threading.Lock
    _pending: dict[TopicPartition, int]
    _committed: dict[TopicPartition, int]
    _held_over: dict[TopicPartition, int]
    _dropped: set[TopicPartition]
    _joined: bool
    _join_since: float | None
    _join_answered: bool
    _join_paused_from: float | None  # time.monotonic(): no broker reachable during the join since
    _fetched: set[TopicPartition]
    _last_records_at: float
    _polled_at: float | None  # time.monotonic(): when the last poll returned (None: no poll yet)
    batch_limit: BatchLimit
    _throttled: ThrottledLog

    if TYPE_CHECKING:  # the daemon's, BatchCommitting's and RebalanceHandling's

        def _commit_pending(self) -> None: ...
        def _new_consumer(self) -> KafkaConsumer: ...
        def _on_revoked(self, partitions: set[TopicPartition], *, lost: bool) -> None: ...
        def _wait_ms(self, share: float) -> int: ...

    def _subscribe(self) -> None:
        """Join the group; the stall clock stands still until the assignment comes, and the join's
        time limit (:func:`join_limit_s`) counts from now."""
        assert self.consumer is not None
        with self._lock:
            self.stall_clock.hold(REBALANCE)
            self._join_since, self._join_answered = time.monotonic(), False
        self.consumer.subscribe([self.kafka.topics.input], listener=Listener(self))  # type: ignore[arg-type]

    def _check_positions(self, *, idle: bool = False) -> None:
        """Once a period (:mod:`pipeline.positions`): the lag of every assigned partition and when the
        daemon was last caught up; a new consumer when no partition with records waiting has moved or
        given records for two periods, one is stuck while others are read (partitions that stood
        still through a replacement: after their hold-off), a partition's position stayed unknown for a
        period, or, after
        an empty poll (``idle``), when records wait and nothing at all was fetched for the period
        (partitions in their grace period aside). No stall is decided during an outage. No look is
        made while a rebalance is under way: the assignment named then is the one revoked (a look due
        is made once the group's answer is applied), but a join that lasts longer than
        :func:`join_limit_s` gets a new consumer (:meth:`_join_failed`)."""
        with self._lock:
            now, joining = self.stall_clock(), self.stall_clock.holds(REBALANCE)
            join_since = self._join_since
        if join_since is None:
            self._join_paused_from = None  # (a join over: an outage during it no longer matters)
        if self._stop.is_set() or (join_since is not None and self._join_failed(join_since)):
            return
        if joining or self.positions.overdue(now) is None:
            return
        look_ms = self._look_ms()
        if look_ms < LOOK_MIN_MS:  # the batch left too little of the poll interval
            self._put_off_look(now)
            return
        self.positions.due(now)
        assert self.consumer is not None
        assignment, asked_at = set(self.consumer.assignment()), self.clock()
        unanswered: set[TopicPartition] = set()  # no end offset (no leader): not judged at this look
        found = positions_waiting(self.consumer, list(assignment), look_ms, unanswered)
        if found is None:
            if self.read_through.failed(asked_at):
                log.warning(
                    "no end offsets from the broker for %.0fs: silence is judged as of each look until "
                    "it answers again (readings still waiting unread may make an asset look silent)",
                    self.read_through.give_up_s,
                )
            return
        self.read_through.looked(found, asked_at)  # when the silence of each partition is judged
        given_up = self.read_through.unanswered(unanswered, asked_at)
        if given_up:
            log.warning(
                "no end offsets from the broker for partitions %s for %.0fs: their silence is judged as "
                "of each look until it answers again (readings waiting unread may make an asset look "
                "silent)",
                sorted(p for _, p in given_up),
                self.read_through.give_up_s,
            )
        for tp, (_, count) in found.items():
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(count)
        # The partitions polled since the last look, whatever this one decides (else records polled
        # long ago would count as progress at the first look after a caught-up one).
        paused, fetched, self._fetched = self.consumer.paused(), self._fetched, set()
        # A partition left unanswered is not judged: its position may be known, its end is not. (At a
        # caught-up look every position is known: it ends their timers, as nothing is unknown.)
        unknown = self.positions.unknown(found, assignment, paused | unanswered, now, fetched)
        if caught_up(found, assignment):
            self.metrics.mark_caught_up()
            # Nothing waits: no timer runs on, and a replacement made for partitions standing still helped.
            self.positions.unmoved(found, paused, fetched, now=now)
            return
        local = self._own_positions(unanswered & assignment)
        waiting = self.positions.unmoved(found, paused, fetched, now=now, local=local)
        stuck = self.positions.stuck(stalled(found, paused), now)
        if self.health.failing_since is not None:  # an outage: batches are rewound and retried, no stall
            return
        if not waiting and idle and now - self._last_records_at >= self.positions.period_s:
            judged = {
                tp: count
                for tp, count in stalled(found, paused).items()
                if not self.positions.in_grace(tp, now)
            }
            # On a quiet input a record can come between the empty poll and this look: only records
            # that waited at the look before count. The others, and positions unknown at this look,
            # are looked at again shortly.
            waiting = {tp: count for tp, count in judged.items() if self.positions.waited(tp)}
            unsure = set(judged) | (assignment - set(found) - paused - unanswered)
            if not waiting and any(not self.positions.in_grace(tp, now) for tp in unsure):
                self.positions.again_in(now, CONFIRM_S)
        # Partitions that stood still through a replacement made for them wait out their hold-off.
        if self.positions.held_off(waiting, now):
            waiting = {}
        if self.positions.held_off(stuck, now):
            stuck = {}
        if not waiting and not unknown and not stuck:
            return
        self.metrics.broker_failures.labels("stalled").inc()
        if unknown:
            log.error(
                "the positions of partitions %s stayed unknown for %.0fs, so they are not fetched: "
                "replacing the Kafka consumer",
                sorted(tp.partition for tp in unknown),
                self.positions.period_s,
            )
        elif waiting:
            hold_off = self.positions.replacing(waiting, now)
            log.error(
                "%d records wait on partitions %s, not fetched (last record %.0fs ago): "
                "replacing the Kafka consumer (if it does not help, judged again after %.0fs)",
                sum(waiting.values()),
                sorted(tp.partition for tp in waiting),
                now - self._last_records_at,
                hold_off,
            )
        else:
            hold_off = self.positions.replacing(stuck, now)
            counts = stalled(found, paused)
            log.error(
                "%d records wait on partitions %s, whose position has not moved for %.0fs while others "
                "are read: replacing the Kafka consumer (if it does not help, judged again after %.0fs)",
                sum(counts[tp] for tp in stuck),
                sorted(tp.partition for tp in stuck),
                min(stuck.values()),
                hold_off,
            )
        self._restart_consumer()

    def _put_off_look(self, now: float) -> None:
        """The look due is made at the next turn, after a batch of half as many records at most: else
        batches that each leave too little of the poll interval (a backlog, never an idle turn) would
        put it off for as long as they last, and no lag, stall or silence be judged meanwhile. Logged
        once it is a period late."""
        limit = self.batch_limit.make_room()
        self.metrics.poll_max_records.set(limit)
        late = self.positions.overdue(now) or 0.0
        if late >= self.positions.period_s:
            self._throttled.log(
                "look-put-off",
                logging.WARNING,
                "the look at the positions is %.0fs late: batches leave under %d ms of "
                "kafka.max_poll_interval_ms (%d) for it; polling at most %d records",
                late,
                LOOK_MIN_MS,
                self.kafka.max_poll_interval_ms,
                limit,
            )

    def _own_positions(self, partitions: set[TopicPartition]) -> dict[TopicPartition, int]:
        """The consumer's positions on ``partitions`` as it knows them, without asking the broker
        (those it does not know, or no longer holds, are left out): :func:`known_position`, since
        kafka-python's ``position()`` sends requests even when given no time to wait."""
        assert self.consumer is not None
        known = {}
        for tp in partitions:
            if (at := known_position(self.consumer, tp)) is not None:
                known[tp] = at
        return known

    def _look_ms(self) -> int:
        """How long a look may wait for the broker, all its calls together: it holds up the next poll,
        so, as the carry-over read, no longer than the share of ``kafka.max_poll_interval_ms`` a batch
        leaves (the request timeout defaults to the whole interval: one look that timed out after a
        batch cost the consumer its partitions), and only until :data:`LOOK_BY_SHARE` of the interval
        has passed since the poll returned (a batch may take longer than its share); once stopping, its
        share of the shutdown grace. Negative when the batch took all of that.

        >>> from types import SimpleNamespace
        >>> from pipeline.config import KafkaSettings
        >>> daemon = SimpleNamespace(kafka=KafkaSettings(), _wait_ms=lambda share: 30_000, _polled_at=None)
        >>> StallHandling._look_ms(daemon)  # the defaults: 30 s request timeout and poll interval
        15000
        >>> daemon._polled_at = time.monotonic() - 20.0  # a batch that took 20 s of the 30
        >>> 2000 < StallHandling._look_ms(daemon) <= 2500
        True
        """
        interval_ms = self.kafka.max_poll_interval_ms
        budget = min(self._wait_ms(0.5), int(POLL_BUDGET_SHARE * interval_ms))
        if self._polled_at is None:
            return budget
        left_ms = LOOK_BY_SHARE * interval_ms - (time.monotonic() - self._polled_at) * 1000
        return min(budget, int(left_ms))

    def _join_failed(self, since: float) -> bool:
        """Replace the consumer when the group's join under way since ``since`` (time.monotonic()) has
        lasted longer than :func:`join_limit_s`; True when it did (or a stop came first). It counts as
        a failure of the ``join`` (:class:`~pipeline.brokerlink.BrokerHealth`): an outage that only an
        assignment ends, so a join that keeps failing ends the run after ``kafka.unavailable_exit_s``.
        Not while no broker is reachable at all: a new consumer cannot help, that outage is timed on
        its own, and the join cannot go on meanwhile, so that time is not counted. Only that time: a
        join counted afresh after each outage would never be judged while the brokers keep dropping
        out, each time for less than the limit."""
        down = self.health.down_since("consume")
        if down is not None:
            if self._join_paused_from is None:
                self._join_paused_from = down
            return False
        if self._join_paused_from is not None:
            with self._lock:
                if self._join_since is not None:  # (the group may have answered meanwhile)
                    # The join's time without brokers: from the outage's start, or the join's if later.
                    self._join_since += time.monotonic() - max(self._join_paused_from, self._join_since)
                    since = self._join_since
            self._join_paused_from = None
        lasted, limit = time.monotonic() - since, join_limit_s(self.kafka)
        if lasted <= limit:
            return False
        group = self.kafka.group_id
        log.error(
            "joining the consumer group %s has not ended after %.0fs (the limit: %.0fs, twice "
            "kafka.max_poll_interval_ms and kafka.request_timeout_ms): replacing the Kafka consumer",
            group,
            lasted,
            limit,
        )
        failed = KafkaTimeoutError(f"joining the consumer group {group}: no answer in {lasted:.0f}s")
        self.health.failure("join", failed)
        if not self._stop.is_set():  # (a stop during the backoff: the shutdown closes the consumer)
            self._restart_consumer()
        return True

    def _restart_consumer(self) -> None:
        """Commit what is processed, close the consumer, and join the group again with a new one (left
        without a consumer only when a stop is requested meanwhile)."""
        assert self.consumer is not None
        if self._pending:
            try:
                self._commit_pending()
            except KafkaError as exc:
                log.warning("commit before the restart failed (records will be redelivered): %s", exc)
        old, self.consumer = self.consumer, None
        held = set(old.assignment())
        with self._lock:
            # Alert state survives the replacement only where everything scored is committed; the new
            # consumer's first assignment decides the rest (_moved_on).
            unsettled = {tp for tp in held if tp in self._pending or tp not in self._committed}
            # A consumer replaced before its group answered (its join outlived the limit) leaves the
            # partitions held over from the one before it still to be decided, not kept unchecked.
            undecided = {} if self._joined else self._held_over
            self._held_over = undecided | {tp: self._committed[tp] for tp in held - unsettled}
            self._joined = False
        try:
            old.close(autocommit=False, timeout_ms=self._wait_ms(0.9))
        except KafkaError as exc:
            log.warning("closing the stalled consumer failed: %s", exc)
        with self._lock:
            # The stalled consumer may have reported them lost (it stopped polling): _moved_on decides.
            self._dropped -= set(self._held_over)
        self._on_revoked(unsettled, lost=True)  # alert state of these partitions starts fresh
        while not self._stop.is_set():
            try:
                self.consumer = self._new_consumer()
            except AUTHENTICATION_FAILURES as exc:  # credentials rotated under the daemon
                raise authentication_refused(exc, self.bootstrap_servers) from None
            except KafkaError as exc:
                self.health.failure("connect", exc)
                continue
            self._subscribe()
            self._last_records_at = self.stall_clock()
            self.positions.restart(self._last_records_at)  # every partition gets its grace again
            return
