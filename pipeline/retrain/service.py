"""The retrainer process: consume alerts, labels and readings into the label store; retrain on a trigger.

It reads ``anomaly-alerts``, ``operator-labels`` and ``sensor-readings`` as a singleton: assigned every
partition, resuming from the committed offsets of ``retrain.group_id``. Per poll: alerts are recorded,
labels validated (bad ones go to ``operator-labels.dlq`` with the reason) and joined to their alert or
kept pending; DLQ records are flushed; then one reading in ``normal_sample_every`` of each asset joins
the bounded sample, the store is committed, and only then the Kafka offsets (at-least-once; the store
ignores replays). A poll given up midway (a dead letter's send raising, the store failing) is rolled
back whole, its counts dropped, and read again (:meth:`~pipeline.retrain.intake.Intake._whole_poll`).
It resumes each partition from the store's own position, committed with what it read
(:mod:`pipeline.retrain.storepositions`): a store restored from a backup, or a new one in place of a
lost one, reads again what it lacks.

A run starts on a trigger and trains in a worker thread while the loop keeps consuming
(:mod:`pipeline.retrain.runs`); its start first restores what the last process left
(:mod:`pipeline.retrain.restored`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from pipeline.backoff import ThrottledLog
from pipeline.brokerlink import rewind
from pipeline.cli import EXIT_MODEL
from pipeline.config import Settings
from pipeline.drift import drift_monitor
from pipeline.errors import BrokerUnavailableError
from pipeline.heldcounts import HeldCounts
from pipeline.kafkaclients import close_producer
from pipeline.kafkatime import KafkaTime
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.recordjson import reading_of
from pipeline.retrain import recreated, storepositions
from pipeline.retrain.clients import retrainer_clients
from pipeline.retrain.cycle import RunResult
from pipeline.retrain.deadletters import DeadLetters
from pipeline.retrain.featuremap import FeatureMap
from pipeline.retrain.intake import Intake
from pipeline.retrain.modelwatch import ModelWatch
from pipeline.retrain.outage import Outage
from pipeline.retrain.probing import Probed
from pipeline.retrain.refused import Refused
from pipeline.retrain.registrywatch import RegistryWatch
from pipeline.retrain.restored import Restored
from pipeline.retrain.runs import Runs
from pipeline.retrain.samples import NormalSampler

__all__ = ["Retrainer"]

log = logging.getLogger(__name__)

_PARTITION_CHECK_S = 60.0  # partitions added to a topic show within this and kafka.metadata_max_age_ms


class Retrainer(Intake, Runs, RegistryWatch, ModelWatch, Restored, Probed, Refused):
    """The retrainer's loop on ``bootstrap_servers``; ``run(once=True)`` catches up, trains once, exits."""

    def __init__(
        self,
        settings: Settings,
        store: LabelStore,
        metrics: RetrainMetrics,
        *,
        bootstrap_servers: str,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cfg = settings.retrain
        self.topics = settings.kafka.topics
        self.store, self.metrics = store, metrics
        self.bootstrap = bootstrap_servers
        self.clock, self.monotonic = clock, monotonic
        self._counts = HeldCounts()  # a poll's counts, held until it is stored (Intake._whole_poll)
        self._dead_letters = DeadLetters(self.topics.labels_dlq, metrics, self._counts)
        self._stop = threading.Event()
        self._drift, self._drifted = drift_monitor(settings), False
        self._sampler = NormalSampler(self.cfg.normal_sample_every)
        self._asset_re = re.compile(settings.records.asset_id_pattern)
        self._max_future_s = settings.records.max_future_s
        self._model: tuple[str, FeatureMap, Any] | None = None  # checked every _RELOAD_CHECK_S
        self._model_checked, self._training_label_id = 0.0, 0
        self._training: Future[RunResult | None] | None = None
        self.last_result: RunResult | None = None
        self._no_run: str | None = None  # why the latest run trained or published nothing
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._parts: list[TopicPartition] = []
        self._parts_checked: float | None = None  # set by open()
        self._recreations = recreated.Recreations()  # topics deleted and created again under it
        self._beat = time.monotonic()  # the loop's last poll (its liveness)
        self._surveyed = monotonic()  # dhag_registry_versions last counted (at start, after runs, hourly)
        self._read = 0  # records polled since start (the closing log line)
        self._watch_refusals()  # Kafka refusing it: credentials, ACLs (pipeline.retrain.refused)
        # Kafka away: retried with backoff, exit code 3 after a while (pipeline.retrain.outage)
        self.outage = Outage(
            settings.kafka, metrics.broker_failures, self._stop, bootstrap_servers, monotonic
        )
        storepositions.mark_new(store)  # before anything else writes to it
        self._restore_run_times()

    def request_stop(self) -> None:
        """Ask the loop to stop after the current poll (a running training gets half the grace period)."""
        self._stop.set()

    # -- Kafka plumbing --------------------------------------------------------------------------
    def _clients(self) -> tuple[KafkaConsumer, KafkaProducer]:
        return retrainer_clients(self.settings, self.bootstrap)

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        """Take every partition of the three topics. Called again every :data:`_PARTITION_CHECK_S`, it
        takes those added since (a scale-out: their assets and alerts are not lost) from their start,
        drops those a topic recreated with fewer no longer has, and reads again from their start the
        alerts and labels partitions past their end or of a new topic id, at the start too (a topic
        recreated: :mod:`pipeline.retrain.recreated`)."""
        self._parts_checked = self.monotonic()
        parts: list[TopicPartition] = []
        known: set[str] = set()  # topics in the metadata
        for topic in (self.topics.alerts, self.topics.labels, self.topics.input):
            found = consumer.partitions_for_topic(topic) or ()
            known |= {topic} if found else set()
            parts += [TopicPartition(topic, p) for p in sorted(found)]
        # A topic not in the metadata (deleted, not yet created again) keeps its partitions for now.
        gone = [tp for tp in self._parts if tp.topic in known and tp not in parts]
        kept = sorted(set(parts) | {tp for tp in self._parts if tp.topic not in known})
        if self._parts:
            recreated.drop(self.store, self.metrics, gone)
            again = [tp for tp in self._parts if tp in parts and tp.topic != self.topics.input]
            if gone:
                consumer.assign(sorted(set(self._parts) - set(gone)))  # kafka-python keeps known positions
            self._recreations.read_again(consumer, self.store, self.metrics, again)
        else:
            self._recreations.note(consumer, known)
        new = [tp for tp in parts if tp not in self._parts]
        if not new:
            return kept
        consumer.assign(kept)
        # Only at start-up may input skip to its end: a partition added since holds only new records.
        latest = not self._parts and self.settings.kafka.auto_offset_reset == "latest"
        if self._parts:
            log.info("partitions added: %s; reading them from their start", ", ".join(map(str, new)))
        # A topic deleted and created again while the retrainer was stopped: read from its start.
        fresh = self._recreations.since_stopped(
            consumer, self.store, self.metrics, [tp for tp in new if tp.topic != self.topics.input]
        )
        # From the label store's own positions: what a store restored from a backup, or a new one in
        # place of a lost one, lacks is read again (the group's offsets are past it).
        starts = storepositions.resume(
            self.store, consumer, [tp for tp in new if tp not in fresh], self.cfg.group_id
        )
        for tp in new:
            offset = starts.get(tp)
            if offset is not None:
                consumer.seek(tp, offset)
            elif latest and tp.topic == self.topics.input:
                consumer.seek_to_end(tp)
            else:
                consumer.seek_to_beginning(tp)
        return kept

    def _readings(self, messages: list[Any], kafka_time: Callable[[], float | None] | None = None) -> None:
        """Sample a poll's readings; a ``ts`` ahead of this host's clock is judged against ``kafka_time``
        (the poll's Kafka record time), as the daemon judges it."""
        rows, records = [], self.settings.records
        later = None if kafka_time is None else (lambda: self._judged_now(kafka_time))
        for msg in messages:
            row = reading_of(
                msg.value, self._asset_re, records.max_record_bytes, records.max_future_s, kafka_time=later
            )
            # An invalid record is the daemon's to dead-letter; it is simply not sampled here.
            if row is not None and self._sampler.take(row[0]):
                rows.append(row)
        if rows:
            self.store.add_readings(
                rows, keep=self.cfg.normal_sample_size, retire_s=self.cfg.asset_retire_s, now=self.clock()
            )
            self._watch_drift(rows, kafka_time)

    # -- the loop --------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect to Kafka and take every partition of the three topics, from the group's offsets."""
        self._consumer, self._producer = self._clients()
        self._parts = self._assign(self._consumer)

    def _connect(self) -> bool:
        """:meth:`open`, retried with backoff while Kafka is away (:mod:`pipeline.retrain.outage`: exit
        code 3 after ``kafka.unavailable_exit_s``); False when a stop came first. A refusal raises
        :class:`~pipeline.errors.ConfigError` (:meth:`_starting`)."""
        while not self._stop.is_set():
            try:
                with self._starting():
                    self.open()
            except (KafkaError, BrokerUnavailableError) as exc:
                self.close()
                self.outage.failed("connect", exc)
                continue
            self.outage.ended()
            return True
        return False

    def close(self) -> None:
        """Disconnect (a running training is left to finish in its thread); dead letters Kafka has not
        taken in 5 s are said, not raised: unacknowledged, they are sent again after a restart."""
        if self._producer is not None and (failed := close_producer(self._producer, 5)) is not None:
            log.error("stopping with labels dead-letter records Kafka did not take: %s", failed)
        if self._consumer is not None:
            self._consumer.close()
        self._consumer = self._producer = None

    def catch_up(self, timeout_s: float = 300.0) -> None:
        """Consume until every partition reaches the end it had when this was called (no training)."""
        assert self._consumer is not None and self._producer is not None, "open() first"
        while True:  # the ends to reach, retried while Kafka is away
            try:
                with self._starting():
                    ends = self._consumer.end_offsets(self._parts)
                break
            except KafkaError as exc:
                self.outage.failed("connect", exc)
                if self._stop.is_set():
                    return
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while not self._stop.is_set():
            # Some Kafka-protocol brokers under-report end offsets: also wait for two empty polls.
            held = self._refused_poll(self._consumer, self._producer)
            self._read += held
            quiet = 0 if held else quiet + 1
            if quiet >= 2 and all(self._consumer.position(tp) >= end for tp, end in ends.items()):
                return
            if time.monotonic() > deadline:
                refused = self.refused_now()
                raise BrokerUnavailableError(
                    f"could not catch up with the topics within {timeout_s:g} s"
                    + (f": Kafka refuses the retrainer, {refused}" if refused else "")
                )

    def run(self, *, once: bool = False) -> int:
        """Consume until stopped (``once``: until caught up, then one run); returns the exit code."""
        if self._current_model(level=logging.ERROR) is None:  # why it exits: an error, not a warning
            return EXIT_MODEL
        self._survey_registry()  # dhag_registry_versions before the first run's prune
        if not self._connect():
            log.info("stopped before connecting to Kafka: nothing read")
            return 0
        assert self._consumer is not None and self._producer is not None
        stopped = False
        try:
            if once:
                return self._once()
            while not self._stop.is_set():
                try:
                    self._read += self._refused_poll(self._consumer, self._producer)
                except BrokerUnavailableError:  # exit code 3, as a stop: a run under way ends first
                    self._stop.set()
                    self._end_run_under_way("Kafka unusable: ")
                    raise
                if self._training is not None and self._training.done():
                    self._finish_run()
                self._count_recovered()
                self._survey_when_due()
                trigger = None if self._stop.is_set() else self.due()
                if trigger is not None and self._training is None:
                    self.start_run(trigger)
                self.store.commit()
            self._end_run_under_way()
            stopped = True
            return 0
        finally:
            self.close()
            if stopped:  # the pod's log confirms a clean stop
                log.info(
                    "stopped: %d records read since start, labels and samples saved in the label store",
                    self._read,
                )

    def _end_run_under_way(self, why: str = "") -> None:
        """Once stopping (``_stop`` set: a training ends at its next epoch and publishes nothing), wait up
        to half of ``shutdown_grace_s`` for the run under way, if any, and record its end. One that
        overruns is left to its daemon thread, unrecorded (the next start records what it did in the
        registry, :mod:`pipeline.retrain.interrupted`; nothing published, its labels count as new):
        left running unawaited, it died inside torch at the interpreter's shutdown."""
        if self._training is None:
            return
        wait_s = self.settings.shutdown_grace_s / 2
        log.info("%swaiting up to %.0f s for the retraining run to finish", why, wait_s)
        try:
            self._training.exception(timeout=wait_s)
        except FutureTimeout:
            log.warning("stopping without the unfinished retraining run; nothing was promoted by it")
            return
        self._finish_run()
        self.store.commit()

    def _poll(self, consumer: KafkaConsumer, producer: KafkaProducer) -> int:
        """One poll, handled, flushed, stored and committed; returns how many records it held."""
        self._beat = time.monotonic()
        ThrottledLog.flush_all()  # the held-back counts whose window passed without a later line
        if self._parts_checked is not None and self.monotonic() - self._parts_checked >= _PARTITION_CHECK_S:
            self._parts = self._assign(consumer)
        batch = consumer.poll(timeout_ms=self.settings.kafka.poll_timeout_ms)
        try:
            return self._handle(batch, consumer, producer)
        except KafkaError:  # Kafka failed it midway (a dead letter's send): read the poll again, not skip it
            rewind(consumer, [m for messages in batch.values() for m in messages])
            raise

    def _handle(self, batch: dict[Any, list[Any]], consumer: KafkaConsumer, producer: KafkaProducer) -> int:
        """A poll's ``batch`` handled, flushed, stored and committed; returns how many records it held."""
        by_topic: dict[str, list[Any]] = {}
        offsets = {}
        for tp, messages in batch.items():
            by_topic.setdefault(tp.topic, []).extend(messages)
            offsets[tp] = messages[-1].offset + 1
        # Labels' and readings' times are judged against the poll's Kafka record time when this host's
        # clock is behind it (the readings' many partitions make it one no single producer moves).
        kafka_time = KafkaTime([m for messages in batch.values() for m in messages])
        with self._whole_poll():  # given up midway, the poll leaves nothing (read again, stored once)
            self._alerts(by_topic.get(self.topics.alerts, []))
            self._labels(by_topic.get(self.topics.labels, []), producer, kafka_time)
            self._retry_pending(producer)
            # What was not acknowledged is settled as failed below: sent again.
            self._dead_letters.flush(producer, self.settings.kafka.request_timeout_ms / 1000)
            refused = self._dead_letters.settle(self.store)
            self._produce_settled(self._dead_letters.acknowledged, self._dead_letters.error)
            # After the last send: a send that raises leaves the sampler and the drift monitor as they were.
            self._readings(by_topic.get(self.topics.input, []), kafka_time)
            if refused:  # a label refused on arrival is read again, and sent again
                offsets = {tp: o for tp, o in offsets.items() if tp.topic != self.topics.labels}
            storepositions.record(self.store, offsets)  # committed with what the poll stored
            self.store.commit()
        self.metrics.labels_pending.set(self.store.pending_count())
        self._current_model()  # keeps dhag_registry_current_info up to date (rate-limited)
        if refused:
            rewind(consumer, by_topic.get(self.topics.labels, []))
        if offsets:  # the store holds what was read: a commit refused or failed loses nothing
            try:
                consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
            except KafkaError as exc:
                self._commit_settled(exc)
            else:
                self._commit_settled(None)
        return sum(len(m) for m in batch.values())
