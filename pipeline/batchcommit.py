"""The scoring daemon's batch bookkeeping: a batch's output delivered, its offsets pending, then committed.

At-least-once: offsets become pending only after every alert, score and DLQ record of the batch was
acknowledged by the broker (:class:`~pipeline.delivery.Delivery`), and are committed then: per
partition the consumer's position (:func:`~pipeline.brokerlink.reached`), the last record + 1 or past
the offsets after it that are never handed out (a transaction's commit marker), where it is known.
A batch whose output is refused is rolled back to the alert state before it and stays *owed* until
it is delivered or its partition goes to another member; resolutions that quiet time brought are
delivered by a sweep, owed too when refused. A produce outage ends once nothing is owed. A commit
refused after a rebalance halves the next poll's size (:class:`~pipeline.batchlimit.BatchLimit`).

A position can also pass offsets while no record comes: a transaction's commit marker written after
its records were read (``read_uncommitted`` hands them out before it), an aborted transaction. So
after every batch and on every empty poll, each assigned partition the consumer reads (not paused),
with nothing pending or owed, whose position is past what this consumer committed there (or that it
has committed nothing on) is committed at its position (:meth:`BatchCommitting._passed`): else the
group's committed offset stayed one short of the end, a lag of 1 in every tool that reads it, until
the next record came. At-least-once holds: the position passes only records a poll handed out, each
poll processed and delivered whole (or rewound) before the next, and offsets never handed out. Not
while a rebalance is under way: the assignment named then is the one being revoked.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from pipeline.brokerlink import known_position, reached, record_lag
from pipeline.delivery import DeliveryError
from pipeline.poison import process_guarded
from pipeline.rebalance import REBALANCE

if TYPE_CHECKING:
    from pipeline.batchlimit import BatchLimit
    from pipeline.brokerlink import BrokerHealth
    from pipeline.delivery import Delivery
    from pipeline.dlqpause import DlqPause
    from pipeline.heldclock import HeldClock
    from pipeline.metrics import PipelineMetrics
    from pipeline.processing import BatchProcessor
    from pipeline.readthrough import ReadThrough

__all__ = ["BatchCommitting"]

log = logging.getLogger("pipeline.daemon")


class BatchCommitting:
    """The daemon's half that delivers each batch's output and commits its offsets (see the module);
    state is the daemon's."""

    consumer: KafkaConsumer | None
    processor: BatchProcessor
    metrics: PipelineMetrics
    health: BrokerHealth
    delivery: Delivery
    dlq_pause: DlqPause
    read_through: ReadThrough
    stall_clock: HeldClock
    batch_limit: BatchLimit
    _lock: threading.Lock
    _pending: dict[TopicPartition, int]
    _committed: dict[TopicPartition, int]
    _owed: dict[TopicPartition, int]  # per partition, the offset past a refused batch
    _sweep_owed: bool  # an idle sweep's resolutions were refused
    records_done: int
    commits_refused: int

    if TYPE_CHECKING:  # the daemon's

        def _wait_ms(self, share: float) -> int: ...

    def _sweep(self) -> None:
        """Deliver the resolutions that quiet time brought; refused, they are resolved again by the next
        sweep: on the next idle poll, or after the next batch while a daemon busy with records owes them
        (else a produce outage would be timed on for as long as it never idles)."""
        point = self.processor.savepoint()
        messages = self.processor.sweep()
        try:
            self.delivery.deliver(messages)
        except DeliveryError as exc:
            self.processor.rollback(point)
            self._sweep_owed = True
            self.delivery.replace()
            self.health.failure("produce", exc)  # a quiet input is no reason to hide a produce outage
        else:
            self.processor.release(point)
            self._sweep_owed = False
            if messages:  # produce works: output owed before is timed anew when it is refused again
                self._owed.clear()
            self._settle_produce()

    def _handle(self, records: list[Any]) -> None:
        # Undelivered, the batch is processed again after a rewind: from the alert state before it, so
        # that its alert events come again (never an episode open that nobody was told of).
        point = self.processor.savepoint()
        try:
            out = process_guarded(self.processor, records)
            self.delivery.deliver(out.messages)
        except BaseException:
            self.processor.rollback(point)
            raise
        self.processor.release(point)
        self.records_done += len(records)
        if out.messages:  # produce works: output owed before is timed anew when it is refused again
            self._owed.clear()
        assert self.consumer is not None
        # Past a trailing commit marker: committed there, so a partition read to its end shows no lag.
        done = reached(self.consumer, out.offsets)
        with self._lock:
            for (topic, partition), offset in out.offsets.items():
                tp = TopicPartition(topic, partition)
                self._pending[tp] = max(done[(topic, partition)], self._pending.get(tp, 0))
                if self._owed.get(tp, math.inf) <= offset:
                    del self._owed[tp]
        self.read_through.read(done)
        self._settle_produce()
        self._passed()
        try:
            self._commit_pending()
        except KafkaError as exc:
            self.health.failure("commit", exc)
        self.metrics.mark_processed()
        record_lag(self.consumer, self.metrics, out.offsets)
        if out.dlq_tripped and not self.dlq_pause.active:
            self.dlq_pause.pause(self.consumer)

    def _settle_produce(self) -> None:
        """A produce outage is over for the daemon once it owes nothing: the batches refused are
        delivered or went to another member (nothing proves produce works again, and nothing needs it),
        and no refused resolution is due any more. Else nothing would end it: a quiet input held the
        alert clock and the stall watch until ``kafka.unavailable_exit_s`` ended the run, however long
        after the broker had recovered."""
        with self._lock:  # partitions revoked or lost come back mostly: decided on the group's answer
            rebalancing = self.stall_clock.holds(REBALANCE)
        if self._sweep_owed or rebalancing or not self.health.failing("produce"):
            return
        assert self.consumer is not None
        assignment = self.consumer.assignment()
        self._owed = {tp: offset for tp, offset in self._owed.items() if tp in assignment}
        if not self._owed:
            self.health.settled("produce")

    def _passed(self) -> None:
        """Make pending the position of each partition that passed offsets no record was handed out
        for since this consumer's last commit there (see the module)."""
        assert self.consumer is not None
        read = self.consumer.assignment() - self.consumer.paused()  # (kafka-python's locks: not under ours)
        positions = {tp: known_position(self.consumer, tp) for tp in read}
        with self._lock:  # a revoke since holds the clock: the positions may be the revoked assignment's
            if self.stall_clock.holds(REBALANCE):
                return
            for tp, at in positions.items():
                if tp in self._pending or tp in self._owed or at is None:
                    continue
                if at > self._committed.get(tp, -1):
                    self._pending[tp] = at

    def _commit_pending(self) -> None:
        assert self.consumer is not None
        with self._lock:
            offsets = {tp: OffsetAndMetadata(o, "", -1) for tp, o in self._pending.items()}
        if not offsets:
            return
        committed = False
        try:
            # One request (kafka-python does not cancel a timed-out one: retrying in slices would send
            # a new commit each time and never see a slow broker's answer). A stop cuts the next
            # commit to its share of the grace; one already waiting ends at its request timeout.
            self.consumer.commit(offsets, timeout_ms=self._wait_ms(0.75))
            committed = True
        except CommitFailedError as exc:
            # The group rebalanced: a new owner resumes from the last commit (at-least-once); a
            # partition assigned here again keeps kafka-python's position, so _passed commits it.
            limit = self.batch_limit.refused()
            self.metrics.poll_max_records.set(limit)
            log.warning(
                "commit refused after a rebalance (a partition gone to another member is processed "
                "again there from its last commit, one assigned here again is committed at its position "
                "at the next batch or empty poll); polling at most %d records: %s",
                limit,
                exc,
            )
            self.metrics.commits.labels("refused").inc()
            self.commits_refused += 1
        else:
            self.metrics.commits.labels("ok").inc()
            self.metrics.last_commit.set(time.time())
            self.health.success("consume")  # else a timeout weeks ago would still count as the same outage
        with self._lock:
            for tp, meta in offsets.items():
                if self._pending.get(tp) == meta.offset:
                    del self._pending[tp]
                if committed:
                    self._committed[tp] = meta.offset
                else:
                    self._committed.pop(tp, None)
