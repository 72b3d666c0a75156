"""How the retrainer takes in alerts and operator labels: each event is checked before the label store
keeps it, and a label that cannot be kept goes to ``operator-labels.dlq`` with its reason.

Labels naming an alert not seen yet wait in the store (pending) for ``label_retry_s``, at most
``max_pending_labels`` of them (one more is dead-lettered at once); nothing here stops the loop on a bad
event, which it would meet again after every restart.

A poll is taken in whole or not at all (:meth:`Intake._whole_poll`): one given up midway (a dead
letter's send raising, the label store failing) leaves the store, the counts and the notes of this
object as they were, and is read again.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaProducer

from pipeline.backoff import ThrottledLog
from pipeline.config import RetrainSettings
from pipeline.heldcounts import HeldCounts
from pipeline.kafkatime import record_time
from pipeline.labelorder import given_rank
from pipeline.labels import MAX_CLOCK_SKEW_S, Label, LabelError, LabelReason, parse_label
from pipeline.labelstore import LabelStore, PendingLabel, Source, Taken
from pipeline.metrics import RetrainMetrics
from pipeline.retrain.alertfeed import AlertEventError, alert_event_of
from pipeline.retrain.deadletters import DeadLetters

__all__ = ["Intake"]

log = logging.getLogger(__name__)
_behind_log = ThrottledLog(log, 600.0)
_ignored_log = ThrottledLog(log, 600.0)
_given_behind_log = ThrottledLog(log, 600.0)
# At most this many waiting labels are dead-lettered a poll (the rest at the next ones): a flood that
# expires at once costs a poll no more sends than this.
_DUE_PER_POLL = 200


class Intake:
    """The retrainer's intake of ``anomaly-alerts`` and ``operator-labels`` (a mixin of the service)."""

    cfg: RetrainSettings
    store: LabelStore
    metrics: RetrainMetrics
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    _dead_letters: DeadLetters
    _asset_re: re.Pattern[str]  # records.asset_id_pattern: a reading's label names its asset by it
    _max_future_s: float | None  # records.max_future_s: how far ahead a reading's label may date it

    def _count(self, fn: Callable[..., Any], *args: Any) -> None:
        """Count now, or once the poll under way is stored (:meth:`_whole_poll`)."""
        if not hasattr(self, "_counts"):
            self._counts = HeldCounts()
        self._counts.add(fn, *args)

    @contextmanager
    def _whole_poll(self) -> Iterator[None]:
        """Hold the counts of a poll until the block ends (the store committed); a poll that raises
        (a dead letter's send, the store) is undone: the store's transaction rolled back with what it
        noted, the counts and the dead letters sent dropped, the first look at every waiting label
        made again if it was this poll's. Its notes of when labels came to wait stay (an extra one only
        keeps later labels waiting as long as their own would). The sampled readings are taken after
        the poll's last send, so a send that raises never moves the sampler on."""
        if not hasattr(self, "_counts"):
            self._counts = HeldCounts()
        point, swept = self._counts.savepoint(), getattr(self, "_swept", False)
        try:
            yield
        except BaseException:
            self._counts.rollback(point)
            self.store.rollback()
            self._dead_letters.forget()
            self._swept = swept
            raise
        self._counts.release(point)

    def _alerts(self, messages: list[Any]) -> None:
        for msg in messages:
            try:
                event = alert_event_of(msg.value)
            except AlertEventError as exc:
                self._count(self.metrics.alerts_refused.inc)
                log.warning(
                    "alert event at %s/%d/%d not recorded: %s", msg.topic, msg.partition, msg.offset, exc
                )
                continue
            # A label of its reading that came before it may be found a repeat as it joins it (one
            # whose ts lay farther from an earlier label of it than the two lie from the opening).
            joined = self.store.add_alert(event)
            if joined.repeats:
                self._count(self.metrics.labels_repeated.inc, joined.repeats)

    def _received_now(self) -> float:
        """The wall clock, later than its last reading here: labels of one partition rank in the order
        they came (:func:`pipeline.labelstore.in_label_order`), which a clock stepped back would turn
        round. Later, not as late: a label waiting for its alert joins it with the time it came, and
        ranks after a label of a later poll stamped as late."""
        if not hasattr(self, "_received"):  # across a restart too: from the last label stored or waiting
            self._received = self.store.last_received()
        self._received = max(self.clock(), math.nextafter(self._received, math.inf))
        return self._received

    def _judged_now(self, kafka_time: Callable[[], float | None] | None) -> float:
        """What a label's (or a reading's) time is judged against: this host's clock, or the Kafka record
        time of the poll (:class:`~pipeline.kafkatime.KafkaTime`) when that is later. A host whose clock
        fell behind (stepped back, a VM resumed before its clock was synced) would otherwise refuse every
        fresh label for good, as the daemon would every fresh reading."""
        host = self.clock()
        kafka = kafka_time() if kafka_time is not None else None
        if kafka is None:
            return host
        if kafka - host > MAX_CLOCK_SKEW_S:
            _behind_log.log(
                "behind",
                logging.WARNING,
                "this host's clock is %.0f s behind the Kafka record times: labels' and readings' times"
                " are judged against those; fix the host's time sync (NTP)",
                kafka - host,
            )
        return max(host, kafka)

    def _labels(
        self,
        messages: list[Any],
        producer: KafkaProducer,
        kafka_time: Callable[[], float | None] | None = None,
    ) -> None:
        """Take in a poll's labels; ``kafka_time``: the poll's Kafka record time (see :meth:`_judged_now`)."""
        if not messages:
            return
        now, judged = self._received_now(), self._judged_now(kafka_time)
        for msg in messages:
            source = Source.of(msg.topic, msg.partition, msg.offset, msg.value)
            try:
                label = parse_label(
                    msg.value,
                    max_bytes=self.cfg.max_label_bytes,
                    now=judged,
                    asset_pattern=self._asset_re.pattern,
                    max_future_s=self._max_future_s,
                )
            except LabelError as exc:
                self._dead_letters.send(producer, msg.key, msg.value, exc.reason, exc.detail, source, now)
                continue
            if label.ignored_fields:
                _ignored_log.log(
                    ",".join(label.ignored_fields),
                    logging.WARNING,
                    "label at %s carries field(s) this version does not know, taken without them: %s "
                    "(a later release's, or misspelt)",
                    source.position,
                    ", ".join(label.ignored_fields),
                )
            # Read again while it waits (its poll's dead letters were not acknowledged, or a restart came
            # before the store held its position): it joins as it waits, ranked by when it first came.
            # Taken now, it ranked after the labels its partition brought since.
            if label.alert_id is not None and self.store.waits(source):
                continue
            # An alert the store forgot that left labels is known: the label joins them (knows_alert).
            if label.alert_id is not None and not self.store.knows_alert(label.alert_id):
                self._wait(producer, msg, label.alert_id, source, now)
            else:
                self._take(label, source, now, self._written_at(label, msg, source))

    @staticmethod
    def _written_at(label: Label, msg: Any, source: Source) -> float | None:
        """When the label's record was written to Kafka, which its given time ranks no earlier than
        ``MAX_CLOCK_SKEW_S`` before (:func:`~pipeline.labelorder.given_rank`); logged when it moves it."""
        written = record_time(msg)
        stamped = label.by_alert or label.labelled_at is not None
        if stamped and written is not None and given_rank(label.given_at, written) > label.given_at:
            _given_behind_log.log(
                label.operator,
                logging.WARNING,
                "label at %s by %s is dated %.0f s before its Kafka record time (its console's clock is "
                "behind?): it ranks as given %.0f s before that time (MAX_CLOCK_SKEW_S)",
                source.position,
                label.operator,
                written - label.given_at,
                MAX_CLOCK_SKEW_S,
            )
        return written

    def _wait(self, producer: KafkaProducer, msg: Any, alert_id: str, source: Source, now: float) -> None:
        """Keep a label whose alert the store does not know yet, waiting; dead-letter it at once when
        ``max_pending_labels`` wait already (a console sending wrong ids would fill the store)."""
        most = self.cfg.max_pending_labels
        if self.store.add_pending(alert_id, msg.value, source, first_seen=now, most=most):
            kept = self._watch_start()
            if not kept or kept[-1][0] != now:
                kept.append((now, self.monotonic()))
            return
        detail = (
            f"alert {alert_id!r} not seen yet, and {most} labels wait for theirs already, the most"
            " retrain.max_pending_labels lets wait: check the alert ids the labelling tool sends"
        )
        self._dead_letters.send(producer, msg.key, msg.value, LabelReason.UNKNOWN_ALERT, detail, source, now)

    def _take(
        self, label: Label, source: Source, received_at: float, written_at: float | None = None
    ) -> None:
        """Store a label whose target is known, and count it: a repeat of an earlier one apart, and each
        change of answer it makes (by the new answer: a label that joins ranking before the one that
        counts makes that one a change). ``written_at``: its Kafka record time (None: not known)."""
        changes: list[str] = []
        taken = self.store.add_label(
            label, source, received_at=received_at, written_at=written_at, changes=changes
        )
        if taken == Taken.REPEAT:
            self._count(self.metrics.labels_repeated.inc)
        elif taken:
            self._count(self.metrics.labels_received.labels(label.label).inc)
        for answer in changes:
            self._count(self.metrics.labels_changed.labels(answer).inc)

    def _retry_pending(self, producer: KafkaProducer) -> None:
        """Join the labels waiting for an alert the store knows now, and dead-letter those that waited
        ``label_retry_s`` (:meth:`_due`), a few hundred a poll at most. A poll reads only the labels that
        can have changed: of the alerts that arrived since the last one, and those whose time is up;
        the first after a start reads every label waiting (one an earlier run left may be known now)."""
        now, ticks = self.clock(), self.monotonic()
        self._watch_start()
        if not getattr(self, "_swept", False):
            self._swept = True
            self.store.take_arrived()
            joining = self.store.pending_known()
        else:
            joining = self.store.pending_of(self.store.take_arrived())
        for item in joining:
            self._join(producer, item)
        seen = {item.source for item in joining}  # one refused as it joined waits for its dead letter
        for item in self._due(now, ticks):
            if item.source in seen:
                continue
            if self.store.knows_alert(item.alert_id):  # known, with no arrival noted: joins all the same
                self._join(producer, item)
                continue
            detail = f"alert {item.alert_id!r} not seen within {self.cfg.label_retry_s:g} s"
            if (forgotten := self.store.forgotten(item.alert_id)) is not None:
                detail = (
                    f"alert {item.alert_id!r} forgotten, recorded over retrain.alert_retention_s ago,"
                    " before any label of it came: send the label by reading"
                    f" (asset_id {forgotten[0]!r}, ts {forgotten[1]!r}, and the alert's values)"
                )
            self._dead_letter(producer, item, LabelReason.UNKNOWN_ALERT, detail)

    def _join(self, producer: KafkaProducer, item: PendingLabel) -> None:
        """Take a pending label whose alert the store knows now, and drop it from the pending table."""
        try:  # its times were judged when it came (against the Kafka record time, maybe)
            label = parse_label(item.raw, max_bytes=self.cfg.max_label_bytes, now=math.inf)
        except LabelError as exc:  # valid when it came, not since a setting changed (a size limit)
            self._dead_letter(producer, item, exc.reason, exc.detail)
            return
        # It ranks by when it came, not when its alert did (the label that came last counts).
        self._take(label, Source.parse(item.source), item.first_seen)
        self.store.drop_pending(item.source)

    def _due(self, now: float, ticks: float) -> list[PendingLabel]:
        """The pending labels (at most :data:`_DUE_PER_POLL`, oldest first) that have waited
        ``label_retry_s`` by the wall clock (which outlives a restart) and by this process's monotonic
        clock (which a step of the wall clock cannot move forward); by the monotonic one alone for one
        that came while the wall clock read later than now (it ran ahead, then was corrected).

        Labels are first seen in the order they come (:meth:`_received_now`), so those that waited long
        enough by the monotonic clock are the ones first seen before a time: that of the oldest poll
        still within ``label_retry_s`` that kept a label waiting (``_kept``: one entry a poll), and none
        while this process has watched for less than that (a label left by an earlier run waits from
        this process's start)."""
        retry, kept = self.cfg.label_retry_s, self._watch_start()
        while kept and ticks - kept[0][1] >= retry:
            kept.popleft()
        if ticks - self._since < retry:
            return []
        before = kept[0][0] if kept else math.inf
        due = self.store.pending_between(
            -math.inf, min(before, math.nextafter(now - retry, math.inf)), limit=_DUE_PER_POLL
        )
        return due + self.store.pending_between(now, before, limit=_DUE_PER_POLL - len(due))

    def _watch_start(self) -> deque[tuple[float, float]]:
        """The polls that kept labels waiting (when the labels came, by the wall clock and the monotonic
        one), started with the process's first look at the pending labels."""
        if not hasattr(self, "_kept"):
            self._since, self._kept = self.monotonic(), deque()
        return self._kept

    def _dead_letter(
        self, producer: KafkaProducer, item: PendingLabel, reason: LabelReason, detail: str
    ) -> None:
        """Send a pending label to the DLQ; it leaves the pending table once the broker has it."""
        source, key = Source.parse(item.source), item.alert_id.encode()
        self._dead_letters.send(
            producer, key, item.raw, reason, detail, source, item.first_seen, pending=item.source
        )
