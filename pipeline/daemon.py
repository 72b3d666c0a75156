"""The scoring daemon's Kafka loop: poll, process, produce, flush, commit; rebalances, pauses, retries.

At-least-once: offsets (the position past the batch) are committed only after every alert, score and
DLQ record of the batch was acknowledged by the broker (the account is :mod:`pipeline.batchcommit`'s).
A failed produce rewinds the consumer to the batch's first offsets and retries after a backoff with a
new producer; a broker that stays unreachable for ``kafka.unavailable_exit_s`` ends the run with
:data:`EXIT_BROKER` so a supervisor restarts the process. Only the thread that calls :meth:`Daemon.run`
touches the consumer; :meth:`Daemon.request_stop` may be called from anywhere.
With a :class:`~pipeline.hotswap.ModelReloader`, a new registry version is swapped in between batches
on the same thread, so no batch is scored by two models and no record is skipped.

Slow batches: a batch that takes longer than ``kafka.max_poll_interval_ms`` costs the consumer its
partitions and its next commit. After every batch the daemon fits the next poll's size to the measured
cost per record with :class:`~pipeline.batchlimit.BatchLimit` (which explains the rule) and halves it
when a commit is refused anyway. ``dhag_poll_max_records`` shows the limit in force.

Stalled fetches: kafka-python can stop fetching a partition for good while the broker holds records
for it (a fetch that never completes keeps its broker marked busy), and polls then return nothing
without an error. When polls have returned no records for ``kafka.request_timeout_ms`` while the broker
reports records past this consumer's positions (unpaused partitions only; records that came since the
last look are looked at again shortly: :data:`pipeline.stalls.CONFIRM_S`), the daemon logs an error,
counts ``dhag_broker_failures_total{operation="stalled"}``, commits what it processed and replaces the
consumer; the group hands the partitions back and consumption resumes from the committed offsets.
:mod:`pipeline.stalls` has the other stalls it answers so (one partition stuck while others are read
among them, and a group join that does not end in time), how rebalances count, and the hold-off after
replacements that did not help.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from itertools import chain

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.backoff import ThrottledLog
from pipeline.batchcommit import BatchCommitting
from pipeline.batchlimit import POLL_BUDGET_SHARE, BatchLimit
from pipeline.brokerlink import (
    AUTHENTICATION_FAILURES,
    BrokerHealth,
    authentication_refused,
    new_consumer,
    rewind,
)
from pipeline.config import Settings
from pipeline.delivery import Delivery, DeliveryError
from pipeline.dlqpause import DlqPause
from pipeline.errors import EXIT_BROKER, BrokerUnavailableError
from pipeline.heldclock import HeldClock
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.offsetresets import report, watch
from pipeline.positions import PositionWatch
from pipeline.probes import DaemonProbes
from pipeline.processing import BatchProcessor
from pipeline.readthrough import ReadThrough
from pipeline.rebalance import RebalanceHandling
from pipeline.stalls import StallHandling

__all__ = ["EXIT_BROKER", "EXIT_OK", "Daemon"]

log = logging.getLogger(__name__)

EXIT_OK = 0
WAIT_FLOOR_MS = 500  # once stopping, the least a broker call is given (see Daemon._wait_ms)


class Daemon(RebalanceHandling, StallHandling, BatchCommitting, DaemonProbes):
    """One consumer in the group of ``kafka.group_id``, scoring the input topic until stopped."""

    def __init__(
        self,
        settings: Settings,
        processor: BatchProcessor,
        metrics: PipelineMetrics,
        *,
        bootstrap_servers: str,
        reloader: ModelReloader | None = None,
    ) -> None:
        self.settings = settings
        self.reloader = reloader
        self.kafka = settings.kafka
        self.processor = processor
        self.metrics = metrics
        self.bootstrap_servers = bootstrap_servers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[TopicPartition, int] = {}
        self._dropped: set[TopicPartition] = set()
        self._dropped_named: set[TopicPartition] = set()  # their lag series wait for the group's answer
        self._assignment_changed = False
        # Offsets this consumer committed, and after a consumer replacement the partitions whose alert
        # state waits for the new consumer's first assignment (kept when nobody committed past them).
        self._committed: dict[TopicPartition, int] = {}
        self._held_over: dict[TopicPartition, int] = {}
        self._joined = False
        self._owned: set[TopicPartition] = set()  # partitions whose alert state is this consumer's
        self._assigned = False  # an assignment came since the last _apply_rebalances
        # A group join under way since (time.monotonic()), and whether the group answered it: a join
        # that lasts too long gets a new consumer (pipeline.stalls).
        self._join_since: float | None = None
        self._join_answered = False
        self._join_paused_from: float | None = None  # no broker reachable during the join since
        # The hysteresis's clock: held while Kafka is unusable or the DLQ cap pauses consumption.
        self.clock = HeldClock()
        processor.clock = self.clock
        # Each partition's silence is judged when it was last read through (pipeline.readthrough).
        self.read_through = ReadThrough(give_up_s=settings.alerts.quiet_s)
        processor.read_until = self.read_through.until
        if settings.alerts.carry_over_s is not None:  # a silence of an asset that may have moved is vetted
            processor.latest_sources = self._latest_sources
        self.health = BrokerHealth(self.kafka, metrics, self._stop, bootstrap_servers, self.clock)
        # Once stopping, when the shutdown grace ends (time.monotonic()): waits on a slow broker are
        # cut to their share of it, so that the daemon closes in order before it is forced out.
        self._stop_by = math.inf
        self._beat = time.monotonic()  # the loop's last turn (its liveness)
        self.delivery = Delivery(self.kafka, bootstrap_servers, self.health, give_up_at=lambda: self._by(0.5))
        self._throttled = ThrottledLog(log, self.kafka.backoff_max_s)
        self._resets = watch()
        # What refused deliveries left owed (a produce outage is timed only while something is): per
        # partition, the offset past a refused batch; and whether an idle sweep's resolutions were refused.
        self._owed: dict[TopicPartition, int] = {}
        self._sweep_owed = False
        self.dlq_pause = DlqPause(settings.dlq, processor.guard, metrics, self.clock)
        # The stall timers' clock (pipeline.stalls): stands still while a rebalance is under way.
        self.stall_clock = HeldClock()
        self._last_records_at = self.stall_clock()
        self._fetched: set[TopicPartition] = set()
        self._polled_at: float | None = None  # when the last poll returned (the look's budget: stalls)
        self.positions = PositionWatch(self.kafka.request_timeout_ms / 1000, last_at=self._last_records_at)
        self.batch_limit = BatchLimit(
            self.kafka.batch_size, budget_s=POLL_BUDGET_SHARE * self.kafka.max_poll_interval_ms / 1000
        )
        metrics.poll_max_records.set(self.batch_limit.current)
        self.consumer: KafkaConsumer | None = None
        self.records_done = 0  # records of the batches delivered since start (the closing log line)
        self.commits_refused = 0  # commits refused after a rebalance since start (the closing log line)

    # -- lifecycle -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the loop to finish its batch and shut down (safe from signal handlers and threads),
        within ``shutdown_grace_s``: a batch whose output the broker has not acknowledged by half of it
        is given up (not committed: it is processed again after the restart), the final commit waits
        until three quarters of it, closing the consumer until nine tenths."""
        if self._stop_by == math.inf:
            self._stop_by = time.monotonic() + self.settings.shutdown_grace_s
        self._stop.set()

    def _by(self, share: float) -> float:
        """When ``share`` of the shutdown grace will have passed (time.monotonic()); inf until a stop."""
        return self._stop_by - (1 - share) * self.settings.shutdown_grace_s

    def _wait_ms(self, share: float) -> int:
        """How long a request may wait: ``kafka.request_timeout_ms``, or once stopping, no longer than
        until ``share`` of the shutdown grace has passed, but half a second at least (a healthy broker
        answers within it: a late stop must not give up what would have worked)."""
        left_ms = (self._by(share) - time.monotonic()) * 1000
        return max(WAIT_FLOOR_MS, int(min(self.kafka.request_timeout_ms, left_ms)))

    def run(self) -> int:
        """Connect, consume until stopped, shut down in order; returns the process exit code. A stop
        ends the log with a line saying what was processed and whether its offsets were committed."""
        ended = "failed"
        try:
            if not self._connect():
                ended = "before connecting"
                return EXIT_OK
            assert self.consumer is not None
            self._subscribe()
            # Until the first batch, "last processed" is the start: a daemon restarted onto a quiet input
            # is stalled after as long as one that went quiet while running, not at once.
            self.metrics.mark_processed()
            self._loop()
            ended = "stopped"
            return EXIT_OK
        except BrokerUnavailableError as exc:
            log.error("giving up: %s", exc)
            return EXIT_BROKER
        finally:
            settled = self._close()
            ThrottledLog.flush_all(final=True)  # no later line will say what was held back
            if ended == "before connecting":
                log.info("stopped before connecting to Kafka: nothing processed")
            elif ended == "stopped":
                # Only what the final commit settled is claimed: a commit refused after a rebalance, or
                # one sent as partitions were revoked or lost, left its records to their new owner.
                log.info(
                    "stopped: %d records processed since start; %s%s",
                    self.records_done,
                    "the final commit done"
                    if settled
                    else "the final commit failed: the records since the last commit are processed again "
                    "after a restart",
                    f" ({self.commits_refused} commits refused after a rebalance: their records are "
                    "processed again by the partitions' new owners)"
                    if self.commits_refused
                    else "",
                )

    def _connect(self) -> bool:
        """Create the clients, retrying with backoff; False when a stop came first. Refused credentials
        raise :class:`~pipeline.errors.ConfigError` at once: no retry would change them."""
        while not self._stop.is_set():
            self._beat = time.monotonic()
            try:
                self.delivery.connect()
                self.consumer = self._new_consumer()
            except AUTHENTICATION_FAILURES as exc:
                raise authentication_refused(exc, self.bootstrap_servers) from None
            except KafkaError as exc:
                self.delivery.replace()
                self.health.failure("connect", exc)
                continue
            self.health.success()  # both clients
            log.info("connected to Kafka at %s", self.bootstrap_servers)
            return True
        return False

    def _new_consumer(self) -> KafkaConsumer:
        return new_consumer(self.kafka, self.bootstrap_servers)

    def _close(self) -> bool:
        """Commit what is processed, then close the consumer and the producer (each bounded); True when
        every processed offset is committed."""
        consumer = self.consumer
        settled = True
        if consumer is not None:
            if pending := dict(self._pending):
                try:
                    self._commit_pending()
                except (KafkaError, BrokerUnavailableError) as exc:
                    log.warning("final commit failed (records will be redelivered): %s", exc)
                settled = all(self._committed.get(tp) == offset for tp, offset in pending.items())
            try:
                consumer.close(autocommit=False, timeout_ms=self._wait_ms(0.9))
            except KafkaError as exc:
                log.warning("closing the consumer failed: %s", exc)
        self.delivery.close(timeout_s=min(5.0, max(0.1, self._by(0.95) - time.monotonic())))
        self.consumer = None
        return settled

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.consumer is not None
        while not self._stop.is_set():
            self._beat = time.monotonic()
            ThrottledLog.flush_all()  # the held-back counts whose window passed without a later line
            self._apply_rebalances()
            if self.dlq_pause.maybe_resume(self.consumer):  # not stalled before the first fetch
                self._last_records_at = self.stall_clock()
            if self.reloader is not None:
                self.reloader.check()
            try:
                polled = self.consumer.poll(
                    timeout_ms=self.kafka.poll_timeout_ms, max_records=self.batch_limit.current
                )
            except KafkaError as exc:
                self.health.failure("poll", exc)
                continue
            finally:
                self._note_resets()
            self._polled_at = time.monotonic()
            if self._apply_rebalances() and polled:
                # The read of the alerts topic took part of the poll interval: the batch gets a new one.
                rewind(self.consumer, list(chain.from_iterable(polled.values())))
                continue
            if not polled:
                self._idle()
                continue
            started = time.perf_counter()
            self._last_records_at = self.stall_clock()
            self._fetched.update(polled)  # the partitions that gave records since the last look
            records = list(chain.from_iterable(polled.values()))
            try:
                self._handle(records)
            except DeliveryError as exc:
                assert self.consumer is not None
                rewind(self.consumer, records)
                for rec in records:
                    tp = TopicPartition(rec.topic, rec.partition)
                    self._owed[tp] = max(rec.offset + 1, self._owed.get(tp, 0))
                self.delivery.replace()
                self.health.failure("produce", exc)
                continue
            elapsed = time.perf_counter() - started
            self.metrics.batch_duration.observe(elapsed)
            self._adapt_batch_limit(len(records), elapsed)
            self._check_positions()
            if self.consumer is None:  # a stop came while the consumer was replaced: the loop ends
                continue
            if self._sweep_owed:
                self._sweep()

    def _note_resets(self) -> None:
        """Say and count the positions kafka-python reset during the poll (:mod:`pipeline.offsetresets`)."""
        resets = self._resets.take()
        if not resets or self.consumer is None:  # nearly every poll: no assignment read then
            return
        # Another consumer's in this process, or a partition since revoked: not this daemon's to say.
        owned = self.consumer.assignment()
        resets = [r for r in resets if TopicPartition(r.topic, r.partition) in owned]
        if not resets:
            return
        report(resets, self.kafka.auto_offset_reset, self.kafka.group_id, log)
        for reset in resets:
            self.metrics.position_resets.labels(reset.reason).inc()
        if skipped := sum(reset.skipped for reset in resets):
            self.metrics.records_skipped.inc(skipped)
            self.metrics.records_skipped_at.mark()

    def _adapt_batch_limit(self, records: int, seconds: float) -> None:
        """Fit the next poll's size to the measured cost per record (see :class:`BatchLimit`)."""
        before = self.batch_limit.current
        after = self.batch_limit.observe(records=records, seconds=seconds)
        self.metrics.poll_max_records.set(after)
        if after < before:
            self._throttled.log(
                "batch-limit",
                logging.WARNING,
                "a batch of %d records took %.2fs (max_poll_interval_ms %d): polling at most %d records",
                records,
                seconds,
                self.kafka.max_poll_interval_ms,
                after,
            )

    def _idle(self) -> None:
        self.health.check(self.consumer)
        self._check_positions(idle=True)
        if self.consumer is None:
            # A stop came while the consumer was replaced: nothing is left to commit with, and what is
            # pending is read again after the restart (the shutdown closes the producer).
            return
        self._sweep()
        self._passed()  # a commit marker that came after its records (pipeline.batchcommit)
        if self._pending:
            try:
                self._commit_pending()
            except KafkaError as exc:
                self.health.failure("commit", exc)
