"""One polled batch in, everything to publish out: scores, alert transitions, DLQ records, offsets.

Knows the model, the record contract and the alert state, but not Kafka's clients: the daemon hands in
consumer records and sends what comes back. That keeps the hot path testable without a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson

from dhag import DHAG
from dhag.exceptions import InputError
from pipeline.alertevents import event_of, first_suspect, imputed_sensors
from pipeline.alerts import Transition
from pipeline.backoff import ThrottledLog
from pipeline.batchoutput import BatchOutput, Outgoing, score_messages
from pipeline.config import Settings
from pipeline.dlqpause import DlqGuard
from pipeline.drift import drift_monitor
from pipeline.features import PlantFeatures
from pipeline.frozen import FrozenSensors, frozen_first
from pipeline.handover import HandOver
from pipeline.heldcounts import HeldCounts
from pipeline.hotswap import ActiveModel, bind_model, verify_replacement
from pipeline.metrics import PipelineMetrics
from pipeline.ownership import Ownership
from pipeline.readingtimes import ReadingTimes
from pipeline.records import SCORING_ERROR, KafkaTime, RecordParser, dlq_detail, dlq_value
from pipeline.trackers import Trackers
from pipeline.warmup import WarmUp

__all__ = ["BatchOutput", "BatchProcessor", "DlqGuard", "Outgoing"]

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0  # each recurring condition below logs at most once in this
# Of the trackers, of the held counts, of the DLQ ratio cap's window.
Savepoint = tuple[dict[tuple[str, int], int], int, tuple[tuple[tuple[int, int], ...], int, int], list[Any]]


class BatchProcessor(HandOver, Ownership):
    """Decode, validate, score and track alerts for polled records of the input topic.

    The model in use is one :class:`~pipeline.hotswap.ActiveModel` (``active``); :meth:`swap_model`
    replaces it in one assignment, and the daemon calls it only between batches, so every record of a
    batch is scored, thresholded and reported by the same model. Alert state survives a swap: an open
    episode stays open under its ``alert_id`` and the hysteresis windows keep their history, while every
    later score, alert event and metric carries the new model's version and threshold. An episode
    whose asset's readings moved to another partition is handed over (:mod:`pipeline.handover`); the
    state of partitions taken away and given follows them (:mod:`pipeline.ownership`).
    """

    def __init__(self, settings: Settings, model: DHAG, model_version: str, metrics: PipelineMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.active = bind_model(model, model_version, settings.records)
        topics = settings.kafka.topics
        self.alerts_topic = topics.alerts
        self.dlq_topic = topics.dlq_topic
        self.scores_topic = topics.scores
        hysteresis = {"open_after", "window", "resolve_after", "resolve_hold_s", "quiet_s", "backfill_s"}
        self.trackers = Trackers(**settings.alerts.model_dump(include=hysteresis | {"max_assets"}))
        self.drift = drift_monitor(settings) if settings.drift.enabled else None
        # A plant model's machines started cold: after a standstill, or a silence that may have been one.
        alerts = settings.alerts
        self.warmup = WarmUp(alerts.warmup_s, alerts.warmup_after_silence_s, alerts.max_assets)
        # A plant model's raw sensor stuck at one value (pipeline.frozen).
        self.frozen = FrozenSensors(alerts.frozen_sensor_factor, alerts.quiet_s, alerts.max_assets)
        # Drift, miskeyed records and dead letters (one stuck sensor): counted, logged once a minute.
        self._drift_log, self._key_log, self._dlq_log = (ThrottledLog(log, LOG_INTERVAL_S) for _ in range(3))
        #: Records it raised on (:func:`pipeline.poison.process_guarded`): a traceback a minute per kind.
        self.raised_log = ThrottledLog(logging.getLogger("pipeline.poison"), LOG_INTERVAL_S)
        self.guard = DlqGuard(
            max_ratio=settings.dlq.max_ratio, window=settings.dlq.window, min_records=settings.dlq.min_records
        )
        self._assets: dict[tuple[str, int], set[str]] = {}
        self._unheld = []  # pipeline.ownership
        self.counts = HeldCounts()
        self.times = ReadingTimes(metrics, self.counts, settings.records.max_behind_s)
        # The hysteresis's clock, and when (tp, now) a partition's quiet time is judged: the daemon's
        # clock stands still while it cannot read (pipeline.heldclock), and it judges a partition when
        # it was last read through (pipeline.readthrough): records not read are no quiet time.
        self.clock: Callable[[], float] = time.monotonic
        self.read_until: Callable[[tuple[str, int], float], float] = lambda tp, now: now
        self._init_handover()
        metrics.set_model(model_version, self.threshold)

    # -- savepoints: a batch whose output was not delivered is undone ------------------------------
    def savepoint(self) -> Savepoint:
        """Hold the changes of alert state (:class:`~pipeline.trackers.Trackers`) and the counts
        (:class:`~pipeline.heldcounts.HeldCounts`) from now on, to :meth:`rollback` or :meth:`release`;
        a rollback also puts back the DLQ ratio cap's window."""
        return self.trackers.savepoint(), self.counts.savepoint(), self.guard.snapshot(), self.unheld_point()

    def rollback(self, point: Savepoint) -> None:
        """Undo the changes of alert state and the DLQ window, and drop the counts, since ``point``."""
        self.trackers.rollback(point[0])
        self.counts.rollback(point[1])
        self.guard.restore(point[2])
        self._unheld = list(point[3])
        self.metrics.dlq_ratio.set(self.guard.ratio)

    def release(self, point: Savepoint) -> None:
        """Keep the changes since ``point``; the outermost release counts what was held."""
        self.trackers.release(point[0])
        self.counts.release(point[1])

    # -- the model in use ------------------------------------------------------------------------
    @property
    def model(self) -> DHAG:
        """The model in use."""
        return self.active.model

    @property
    def model_version(self) -> str:
        """The registry version of the model in use."""
        return self.active.version

    @property
    def threshold(self) -> float:
        """The alert threshold of the model in use."""
        return self.active.threshold

    @property
    def parser(self) -> RecordParser:
        """The record parser for the model in use."""
        return self.active.parser

    @property
    def derived(self) -> PlantFeatures | None:
        """The derived-feature spec of the model in use (None when it reads raw sensors)."""
        return self.active.derived

    def prepare_model(self, model: DHAG, version: str) -> ActiveModel:
        """Bind and verify a newly loaded model for :meth:`swap_model`; the model in use is untouched.

        Raises :class:`~pipeline.errors.ModelUnavailableError` when the model cannot replace the one in
        use (see :func:`pipeline.hotswap.verify_replacement`).
        """
        return verify_replacement(self.active, bind_model(model, version, self.settings.records))

    def swap_model(self, candidate: ActiveModel) -> None:
        """Start scoring with ``candidate`` (from :meth:`prepare_model`); call only between batches."""
        previous, self.active = self.active, candidate
        self.metrics.set_model(candidate.version, candidate.threshold, previous=previous.version)
        log.info(
            "model %s replaced %s (threshold %.4f -> %.4f); open alerts stay open",
            *(candidate.version, previous.version, previous.threshold, candidate.threshold),
        )

    # -- the batch -------------------------------------------------------------------------------
    def process(
        self, records: Sequence[Any], *, now: float | None = None, kafka_time: KafkaTime | None = None
    ) -> BatchOutput:
        """Process consumer records (objects with topic, partition, offset, key, value); the caller
        counts them as consumed (:func:`pipeline.poison.process_guarded`), once even if reprocessed;
        ``kafka_time``: their Kafka record time (default: :class:`~pipeline.records.KafkaTime` of them)."""
        now = self.clock() if now is None else now
        out = BatchOutput()
        if not records:
            return out
        for rec in records:
            tp = (rec.topic, rec.partition)
            if rec.offset + 1 > out.offsets.get(tp, -1):
                out.offsets[tp] = rec.offset + 1
        parsed = self.active.parse(records, kafka_time)  # (of the records when not given)
        if self.derived is not None and (unreferenced := self.derived.unreferenced(parsed.asset_ids)):
            self.counts.add(self.metrics.readings_unreferenced.inc, unreferenced)
        for rej in parsed.rejections:
            self._dead_letter(out, records[rej.index], str(rej.reason), rej.detail)
        if parsed.imputed:
            self.counts.add(self.metrics.imputed_values.inc, parsed.imputed)
        if parsed.unknown_sensors:
            self.counts.add(self.metrics.unknown_sensors.inc, parsed.unknown_sensors)
        self._check_keys(records, parsed)
        good = self._score(out, records, parsed, now) if parsed.indices else np.empty(0, np.intp)
        self.times.observe(records, parsed, good, wall_now=time.time(), now=now)
        out.messages.extend(self._resolve_quiet(now))
        self.counts.add(self.metrics.records_processed.labels("invalid").inc, len(parsed.rejections))
        out.dlq_tripped = self.guard.add(total=len(records), dead=out.dead_lettered)
        self.metrics.dlq_ratio.set(self.guard.ratio)
        self.metrics.batch_size.observe(len(records))
        return out

    def _check_keys(self, records: Sequence[Any], parsed: Any) -> None:
        """Count (and log, once a minute) records keyed other than by their asset: the contract keys
        by asset so that one consumer owns each asset's alert state."""
        pairs = zip(parsed.indices, parsed.asset_ids, strict=True)
        wrong = [asset for i, asset in pairs if records[i].key != asset.encode()]
        if wrong:
            self.counts.add(self.metrics.key_mismatches.inc, len(wrong))
            self._key_log.log(
                "keys",
                logging.WARNING,
                "%d record(s) keyed other than by their asset_id (first: %r); an asset whose records "
                "reach two partitions is tracked and alerted on twice",
                len(wrong),
                wrong[0],
            )

    def _score(self, out: BatchOutput, records: Sequence[Any], parsed: Any, now: float) -> np.ndarray:
        started = time.perf_counter()
        scores, refused = self.active.score(parsed.matrix)
        self.metrics.scoring_duration.observe(time.perf_counter() - started)
        failed = np.zeros(scores.shape[0], dtype=bool)
        for j, exc in refused.items():
            failed[j] = True
            rec = records[parsed.indices[j]]
            detail = self.active.refusal(exc, parsed.matrix[j], parsed.values[j])
            self._dead_letter(out, rec, SCORING_ERROR, detail)
            # A value beyond what the model can standardise is bad data; anything else, the model's fault.
            outcome = "invalid" if isinstance(exc, InputError) else "error"
            self.counts.add(self.metrics.records_processed.labels(outcome).inc)
        good = np.flatnonzero(~failed)
        if good.size == 0:
            return good
        scores_ok = scores[good]
        self.counts.add(self.metrics.records_processed.labels("ok").inc, int(good.size))
        # A machine at standstill (plant model) is scored but judged normal: a stop is no fault.
        still = np.zeros(scores.shape[0], dtype=bool)
        if self.derived is not None:
            still[good] = self.derived.standstill(parsed.matrix[good])
            self.counts.add(self.metrics.readings_standstill.inc, int(still.sum()))
        beyond = np.zeros(scores.shape[0], dtype=bool)
        beyond[good] = self.active.outside_training_range(
            parsed.matrix[good], [parsed.asset_ids[j] for j in good]
        )
        beyond &= ~still
        self.counts.add(self.metrics.outside_training_range.inc, int(beyond.sum()))
        self.counts.add(self.metrics.anomaly_score.observe_many, scores_ok)
        out.scored += int(good.size)
        over = (scores > self.threshold) & ~still
        if self.derived is not None and self.warmup.warmup_s:  # a machine started cold
            over = self.warmup.judge_batch(over, parsed, still, self.active)
            self.counts.add(self.metrics.readings_warming_up.inc, self.warmup.judged)
        if frozen := self.frozen.judge_batch(self.active, parsed, good, still):
            over[list(frozen)] = True
            self.counts.add(self.metrics.readings_frozen.inc, len(frozen))
        transitions: list[tuple[Transition, int, tuple[str, int]]] = []
        last_score: dict[str, tuple[float, tuple[str, int], bool, int]] = {}
        assets, stamps = parsed.asset_ids, parsed.timestamps.tolist()
        scores_list, over_list, beyond_list = scores.tolist(), over.tolist(), beyond.tolist()
        taken: dict[str, str | None] = {}  # assets whose episodes this batch took over: first suspect
        if self.offered:
            self.check_offers(((records[parsed.indices[j]], assets[j]) for j in good.tolist()), now)
        repeats = sum(tracker.repeats for tracker in self.trackers.values())
        for j in good.tolist():
            rec = records[parsed.indices[j]]
            tp = (rec.topic, rec.partition)
            asset = assets[j]
            if self.offered and (episode := self._take_over(rec, asset, stamps[j], now)) is not None:
                # before the batch's events: a resolution of it comes after
                out.messages.append(self._alert_message(episode, episode.context))
                taken[asset] = first_suspect(episode.context, self.active.inputs)
            transition = self.trackers.of(tp).observe(
                asset,
                over_list[j],
                scores_list[j],
                stamps[j],
                now=now,
                seed=f"{rec.topic}/{rec.partition}/{rec.offset}",
                index=j,
                offset=rec.offset,
                values=parsed.values[j],
            )
            last_score[asset] = (scores_list[j], tp, beyond_list[j], j)
            if transition is not None:
                transitions.append((transition, j, tp))
        if repeated := sum(tracker.repeats for tracker in self.trackers.values()) - repeats:
            self.counts.add(self.metrics.readings_repeated.inc, repeated)
        suspects = taken | self._publish_transitions(out, transitions, parsed, frozen)
        evicted, refused = self.trackers.room.take_counts()
        self.counts.add(self.metrics.alert_states_evicted.inc, evicted)
        self.counts.add(self.metrics.alert_states_refused.inc, refused)
        for asset, (score, tp, outside, j) in last_score.items():
            if asset not in self.trackers.of(tp):
                continue  # refused alert state (alerts.max_assets): no series, which nothing would free
            anomalous = self.trackers.of(tp).is_open(asset)
            # Assets with series are remembered (to drop them with their partition), and anomalous ones
            # beyond the asset limit (dhag_assets_anomalous_unlisted counts them until then): the limit
            # and the open episodes bound this memory.
            # Running, at standstill or warming up: a plant model's only (a raw one knows no machine).
            state = None if self.derived is None else self.warmup.state(asset, stamps[j], still[j])
            listed = self.metrics.set_asset(
                asset, score=score, anomalous=anomalous, outside_range=outside, state=state
            )
            if listed or anomalous:
                self._assets.setdefault(tp, set()).add(asset)
            if listed and anomalous and asset in suspects:  # opened or taken over in this batch
                self.metrics.set_suspect(asset, suspects[asset])
            if listed and self.frozen.factor:
                self.metrics.set_stuck(asset, frozenset(e["sensor"] for e in frozen.get(j, ())))
        if self.scores_topic is not None:
            self._publish_scores(out, records, parsed, good, scores_list)
        if self.drift is not None:  # fed with delivered batches only: a retried one once
            running = good[~still[good]]  # a plant stopped for a weekend is no drift
            stamps_ok = parsed.timestamps[running]
            self.counts.add(
                self._watch_drift, self.model_version, scores[running], stamps_ok, parsed.kafka_time
            )
        return good

    def _watch_drift(self, version: str, scores: np.ndarray, times: np.ndarray, kafka_time: Any) -> None:
        assert self.drift is not None
        for event in self.drift.update(version, scores, times, now=kafka_time):
            self.metrics.drift_detections.labels(event.model_version).inc()
            self._drift_log.log(
                "drift",  # one model at a time: a key per version would grow with every swap
                logging.WARNING,
                "score drift for model %s after %d scores: recent window mean %.4f over %d %s",
                *(event.model_version, event.scores_seen, event.window_mean, event.window_size),
                f"{self.drift.bucket_s:g}-s medians" if self.drift.bucket_s else "scores",
            )

    def _publish_transitions(
        self,
        out: BatchOutput,
        transitions: list[tuple[Transition, int, tuple[str, int]]],
        parsed: Any,
        frozen: dict[int, list[Any]],
    ) -> dict[str, str | None]:
        """The batch's alert events, in the order they happened (an episode that opens and resolves
        within the batch resolves with what its open event said); returns the first suspect sensor of
        each asset's last episode opened (None: it names none). ``frozen``: the sensors stuck in each
        reading (by position), named first among its suspects."""
        opens = [(t, j, tp) for t, j, tp in transitions if t.kind == "open"]
        rows, top = [j for _, j, _ in opens], self.settings.alerts.top_sensors
        values, assets = [parsed.values[j] for j in rows], [parsed.asset_ids[j] for j in rows]
        imputed = [imputed_sensors(v, self.parser.features) for v in values]
        explained = self.active.explain(parsed.matrix[rows], assets, imputed, top=top)
        suspects = self.active.suspect_sensors(values, assets, imputed, top=max(top, len(self.active.inputs)))
        suspects = [
            frozen_first(frozen.get(j, []), found, top) for j, found in zip(rows, suspects, strict=True)
        ]
        said: dict[str, tuple[Any, ...]] = {}
        for (transition, _, tp), *context in zip(opens, explained, values, imputed, suspects, strict=True):
            said[transition.alert_id] = tuple(context)
            self.trackers[tp].set_context(transition.asset_id, transition.alert_id, said[transition.alert_id])
        for transition, _, _ in transitions:
            context = said.get(transition.alert_id) or transition.context
            out.messages.append(self._alert_message(transition, context))
            if transition.kind == "open":
                out.opened += 1
                self.counts.add(self.metrics.alerts_opened.inc)
            else:
                out.resolved += 1
                self.counts.add(
                    self.metrics.alerts_resolved.labels(transition.resolved_by or "normal_scores").inc
                )
        return {t.asset_id: first_suspect(said[t.alert_id], self.active.inputs) for t, _, _ in opens}

    def _alert_message(self, transition: Transition, context: Any) -> Outgoing:
        """The event of ``transition``, saying what its open event said (:func:`event_of` ``context``)."""
        event = event_of(transition, context, self.threshold, self.model_version, self.parser.features)
        return Outgoing(self.alerts_topic, transition.asset_id.encode(), orjson.dumps(event))

    def sweep(self, now: float | None = None) -> list[Outgoing]:
        """Quiet-time resolutions due at ``now`` (for idle polls, when no batch arrives)."""
        return self._resolve_quiet(self.clock() if now is None else now)

    def _publish_scores(
        self, out: BatchOutput, records: Sequence[Any], parsed: Any, good: np.ndarray, scores: list[float]
    ) -> None:
        assert self.scores_topic is not None
        out.messages += score_messages(self.scores_topic, self.model_version, records, parsed, good, scores)
        self.counts.add(self.metrics.scores_published.inc, int(good.size))

    def unprocessable(self, rec: Any, reason: str, detail: str) -> BatchOutput:
        """The output of one record that :meth:`process` raised on: dead-lettered with ``reason``,
        counted as invalid and in the DLQ ratio cap, and its offset passed so it is met only once."""
        out = BatchOutput(offsets={(rec.topic, rec.partition): rec.offset + 1})
        self._dead_letter(out, rec, reason, detail)
        self.counts.add(self.metrics.records_processed.labels("invalid").inc)
        out.dlq_tripped = self.guard.add(total=1, dead=1)
        self.metrics.dlq_ratio.set(self.guard.ratio)
        return out

    def _dead_letter(self, out: BatchOutput, rec: Any, reason: str, detail: str) -> None:
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.detail", dlq_detail(detail)),
            ("dlq.source.topic", rec.topic.encode()),
            ("dlq.source.partition", str(rec.partition).encode()),
            ("dlq.source.offset", str(rec.offset).encode()),
            ("dlq.first_seen", f"{time.time():.3f}".encode()),
        ]
        value, cut = dlq_value(rec.value)
        out.messages.append(Outgoing(self.dlq_topic, rec.key, value, headers + cut))
        out.dead_lettered += 1
        self.counts.add(self.metrics.dlq_records.labels(reason).inc)
        where = (rec.topic, rec.partition, rec.offset, reason, detail[:200])
        self._dlq_log.log(reason, logging.INFO, "dead-lettered %s[%d]@%d: %s (%s)", *where)
