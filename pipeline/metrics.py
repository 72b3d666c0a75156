"""Every Prometheus metric of the service, created on an injected registry (prefix ``dhag_``).

Labels are bounded: outcomes, DLQ reasons, topic partitions, model versions, and assets only up to
``asset_limit`` (beyond it an asset gets no per-asset series, and the refusal is counted).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pipeline.assetmetrics import AssetMetrics
from pipeline.collectors import BulkHistogram, Moment
from pipeline.probes import Probes, serve
from pipeline.records import DLQ_REASONS
from pipeline.refusals import REFUSAL_KINDS
from pipeline.retrainmetrics import RetrainMetrics
from pipeline.scrape import scrape

__all__ = ["BulkHistogram", "PipelineMetrics", "RetrainMetrics", "scrape", "serve_metrics"]

# The Kafka operations whose failures are counted (pipeline.brokerlink and the daemon's stall watch).
BROKER_OPERATIONS = ("connect", "connection", "poll", "produce", "commit", "stalled", "join", "carry_over")
# The operations Kafka may refuse (pipeline.refusals), and how: the credentials, or an ACL.
REFUSED_OPERATIONS = ("connect", "poll", "produce", "commit", "carry_over")
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_SCORE = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99, 1.0)


class PipelineMetrics(AssetMetrics):
    """The service's metrics on ``registry``; per-asset series for at most ``asset_limit`` assets.

    Example
    -------
    >>> from prometheus_client import CollectorRegistry
    >>> reg = CollectorRegistry()
    >>> m = PipelineMetrics(reg, asset_limit=1)
    >>> m.set_asset("pump-1", score=0.7, anomalous=True), m.set_asset("pump-2", score=0.1, anomalous=False)
    (True, False)
    >>> reg.get_sample_value("dhag_asset_score", {"asset": "pump-1"})
    0.7
    >>> reg.get_sample_value("dhag_asset_score", {"asset": "pump-2"}) is None
    True
    """

    def __init__(self, registry: CollectorRegistry, *, asset_limit: int = 200) -> None:
        self.registry = registry
        self.asset_limit = asset_limit
        r = registry
        self.records_consumed = Counter(
            "dhag_records_consumed", "Records polled from the input topic.", registry=r
        )
        self.records_processed = Counter(
            "dhag_records_processed",
            "Records handled, by outcome: ok (scored), invalid (dead-lettered), error.",
            ["outcome"],
            registry=r,
        )
        self.dlq_records = Counter(
            "dhag_dlq_records", "Records sent to the DLQ, by reason.", ["reason"], registry=r
        )
        self.outputs_too_large = Counter(
            "dhag_outputs_too_large",
            "Output records Kafka refused as too large, by output; each went to the DLQ in their place.",
            ["output"],
            registry=r,
        )
        self.imputed_values = Counter(
            "dhag_imputed_values",
            "Missing or non-finite sensor values filled with training means (plant model: the asset's own).",
            registry=r,
        )
        self.key_mismatches = Counter(
            "dhag_records_key_mismatch",
            "Scored records whose Kafka key is not their asset_id: such an asset's records may reach "
            "two partitions and be tracked, and alerted on, twice.",
            registry=r,
        )
        self.unknown_sensors = Counter(
            "dhag_unknown_sensor_values",
            "Sensor values ignored because the model does not use them.",
            registry=r,
        )
        self.outside_training_range = Counter(
            "dhag_readings_outside_training_range",
            "Scored readings with at least one feature beyond the model's training range.",
            registry=r,
        )
        self.readings_misdated = Counter(
            "dhag_readings_misdated",
            "Scored readings dated over records.max_behind_s before their Kafka time: kept out of the lag.",
            registry=r,
        )
        self.readings_repeated = Counter(
            "dhag_readings_repeated",
            "Scored readings with the ts and sensor values of one of their asset's last alerts.window (the"
            " same reading delivered again, whatever it scored): counted once in alerts.",
            registry=r,
        )
        self.max_behind = Gauge(
            "dhag_records_max_behind_seconds",
            "records.max_behind_s: a reading dated further behind its Kafka time is misdated (+Inf: none).",
            registry=r,
        )
        self.max_behind.set(float("inf"))  # until the processor sets it, none is counted
        self.readings_unreferenced = Counter(
            "dhag_readings_unreferenced",
            "Readings of an asset the plant model has no reference for, scaled by the fleet's median one.",
            registry=r,
        )
        self.readings_standstill = Counter(
            "dhag_readings_standstill",
            "Readings of a machine at standstill (plant model): scored, but judged normal.",
            registry=r,
        )
        self.readings_warming_up = Counter(
            "dhag_readings_warming_up",
            "Readings over the threshold of a machine warming up after a standstill or a silence (plant "
            "model) that score under it with the bearing at its usual temperature rise: judged normal.",
            registry=r,
        )
        self.readings_frozen = Counter(
            "dhag_readings_frozen",
            "Running readings (plant model) judged anomalous because a raw sensor read one value for "
            "alerts.frozen_sensor_factor times as many readings in a row, and as long, as in training.",
            registry=r,
        )
        self.alerts_opened = Counter("dhag_alerts_opened", "Alert episodes opened.", registry=r)
        self.alerts_resolved = Counter(
            "dhag_alerts_resolved", "Alert episodes resolved, by cause.", ["resolved_by"], registry=r
        )
        self.alert_states_evicted = Counter(
            "dhag_alert_states_evicted",
            "Assets whose alert state was dropped to stay within alerts.max_assets (never one with an open "
            "alert; the least recently heard from first): they start afresh, as after a quiet time.",
            registry=r,
        )
        self.alert_states_refused = Counter(
            "dhag_alert_states_refused",
            "Readings of assets given no alert state, and open episodes not carried over from the alerts "
            "topic: alerts.max_assets assets held, each with an open alert (scored, but opening no alert).",
            registry=r,
        )
        self.alerts_carried_over = Counter(
            "dhag_alerts_carried_over",
            "Open alert episodes carried on from an earlier owner (restart, partition move, asset moved).",
            registry=r,
        )
        self.alerts_handed_over = Counter(
            "dhag_alerts_handed_over",
            "Open alert episodes left without an event to their asset's new partition (partitions added).",
            registry=r,
        )
        # A gauge, not only the failure counter: a carry-over fails mostly at start-up, before the first
        # scrape, where a counter that starts at 1 shows no increase(). The rule reads its age.
        self._carry_over_failed = Moment(
            "dhag_alerts_carry_over_failed",
            "reading the alerts topic for open episodes last failed",
            before="0: not since start-up",
            registry=r,
        )
        self.carry_over_failed = self._carry_over_failed.timestamp
        self.position_resets = Counter(
            "dhag_input_position_resets",
            "Input partitions whose position kafka.auto_offset_reset set, by cause: no_commit (no committed "
            "position), out_of_range (the position lay outside the partition's retained records).",
            ["reason"],
            registry=r,
        )
        for reason in ("no_commit", "out_of_range"):
            self.position_resets.labels(reason)
        self.records_skipped = Counter(
            "dhag_input_records_skipped",
            "Input records never read: a position reset jumped over them (deleted by retention first).",
            registry=r,
        )
        # A moment too: the skip comes mostly at start-up, before the first scrape (as the carry-over's).
        self.records_skipped_at = Moment(
            "dhag_input_records_skipped", "input records were last skipped", before="0: never", registry=r
        )
        self.scores_published = Counter(
            "dhag_scores_published", "Records published to the scores topic.", registry=r
        )
        self.scoring_duration = Histogram(
            "dhag_scoring_duration_seconds",
            "Time to score one batch (model only).",
            buckets=_SECONDS,
            registry=r,
        )
        self.batch_duration = Histogram(
            "dhag_batch_duration_seconds",
            "Time from a batch's poll to its commit.",
            buckets=_SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "dhag_batch_records",
            "Records per processed batch.",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000),
            registry=r,
        )
        self.anomaly_score = BulkHistogram(
            "dhag_anomaly_score", "Anomaly scores of the scored records.", buckets=_SCORE, registry=r
        )
        self.end_to_end_lag = BulkHistogram(
            "dhag_end_to_end_lag_seconds",
            "Scoring time minus the record's ts (0 for a record dated ahead of this host's clock; a misdated"
            " one is left out).",
            buckets=_LAG,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "dhag_consumer_lag_records",
            "Records behind the partition's high watermark.",
            ["topic", "partition"],
            registry=r,
        )
        self.started = Gauge(
            "dhag_daemon_started_timestamp_seconds",
            "When this daemon process started (its changes count restarts).",
            registry=r,
        )
        self.started.set_to_current_time()
        # The stall rules read the ages (Moment says why).
        self._processed = Moment(
            "dhag_last_processed",
            "the last batch was processed",
            before="until the first one: when consumption started",
            registry=r,
        )
        self.last_processed = self._processed.timestamp
        self._caught_up = Moment(
            "dhag_caught_up",
            "the daemon last found no record waiting on a partition it reads (checked once a period)",
            registry=r,
        )
        self.caught_up = self._caught_up.timestamp
        self.last_commit = Gauge(
            "dhag_last_commit_timestamp_seconds", "When offsets were last committed.", registry=r
        )
        self.commits = Counter("dhag_offset_commits", "Offset commits, by result.", ["result"], registry=r)
        self.model_info = Gauge("dhag_model_info", "The model in use (value 1).", ["version"], registry=r)
        self.model_threshold = Gauge(
            "dhag_model_threshold", "The alert threshold of the model in use.", registry=r
        )
        self.model_reloads = Counter("dhag_model_reloads", "Model loads, by result.", ["result"], registry=r)
        self.model_current_refused = Gauge(
            "dhag_model_current_refused",
            "1 while the registry's current version is one this daemon refused (a restart would fail on it).",
            registry=r,
        )
        self.drift_detections = Counter(
            "dhag_drift_detections",
            "Drift detected in the anomaly-score stream.",
            ["model_version"],
            registry=r,
        )
        self.dlq_paused = Gauge(
            "dhag_dlq_paused", "1 while consumption is paused by the DLQ ratio cap.", registry=r
        )
        self.dlq_ratio = Gauge(
            "dhag_dlq_window_ratio", "Share of the recent window sent to the DLQ.", registry=r
        )
        self.broker_connected = Gauge(
            "dhag_broker_connected",
            "1 while the broker is reachable, 0 while the consumer or the producer retries (a group join "
            "that does not end counts in dhag_broker_failures_total{operation='join'} alone).",
            registry=r,
        )
        self.broker_failures = Counter(
            "dhag_broker_failures",
            "Failed attempts to reach the broker or to use it.",
            ["operation"],
            registry=r,
        )
        self.broker_refusals = Counter(
            "dhag_broker_refusals",
            "Broker failures that were Kafka refusing the client: its credentials (authentication) or an "
            "ACL (authorisation).",
            ["operation", "kind"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "dhag_assigned_partitions", "Input partitions assigned to this consumer.", registry=r
        )
        self.poll_max_records = Gauge(
            "dhag_poll_max_records",
            "Records the next poll may return: kafka.batch_size, lowered while batches run slow.",
            registry=r,
        )
        self._init_asset_metrics(r, asset_limit)
        # Every labelled counter an alert takes increase() of is exported at 0 from the start: a series
        # that first appears at 1 reads to Prometheus as no increase, so the first event after each
        # restart (a refused model, a stalled broker, a record the service raised on) went unalerted.
        for outcome in ("ok", "invalid", "error"):
            self.records_processed.labels(outcome)
        for reason in DLQ_REASONS:
            self.dlq_records.labels(reason)
        for output in ("alerts", "scores", "dlq"):
            self.outputs_too_large.labels(output)
        for result in ("ok", "refused"):
            self.commits.labels(result)
        for result in ("ok", "failed"):
            self.model_reloads.labels(result)
        for operation in BROKER_OPERATIONS:
            self.broker_failures.labels(operation)
        for operation in REFUSED_OPERATIONS:
            for kind in REFUSAL_KINDS:
                self.broker_refusals.labels(operation, kind)
        for cause in ("normal_scores", "quiet_time", "silence", "not_carried_over"):
            self.alerts_resolved.labels(cause)

    def mark_processed(self) -> None:
        """A batch was processed (or consumption started): ``dhag_last_processed_*``."""
        self._processed.mark()

    def mark_caught_up(self) -> None:
        """No record waits on a partition the daemon reads: ``dhag_caught_up_*``."""
        self._caught_up.mark()

    def mark_carry_over_failed(self) -> None:
        """Reading the alerts topic for open episodes failed: ``dhag_alerts_carry_over_failed_*``."""
        self._carry_over_failed.mark()

    def set_model(self, version: str, threshold: float, *, previous: str | None = None) -> None:
        """The model in use is ``version`` (replacing ``previous``, whose series go: months of swaps must
        not pile them up); its drift count starts at 0."""
        if previous is not None and previous != version:
            self.model_info.remove(previous)
            with contextlib.suppress(KeyError):
                self.drift_detections.remove(previous)
        self.model_info.labels(version).set(1)
        self.model_threshold.set(threshold)
        self.drift_detections.labels(version)


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, probes: Probes | None = None
) -> tuple[WSGIServer, int]:
    """Serve ``registry`` on ``/metrics``, and ``probes`` on ``/ready`` and ``/live``
    (:mod:`pipeline.probes`); returns ``(server, bound_port)``. Stop it with ``server.shutdown()``."""
    return serve(registry, host, port, probes or Probes())


def serve_configured(
    registry: CollectorRegistry, settings: Any, probes: Probes, port_key: str, log: logging.Logger
) -> tuple[WSGIServer, int] | None:
    """:func:`serve_metrics` on ``metrics.host`` and the port the dotted ``port_key`` of ``settings``
    names (``metrics.port`` for the daemon, ``retrain.metrics_port`` for the retrainer), said on
    ``log``; None when it cannot be bound, the error logged naming both keys and where they were set."""
    from pipeline.configsecurity import set_at

    section, name = port_key.split(".")
    host, port = settings.metrics.host, getattr(getattr(settings, section), name)
    try:
        server, bound = serve_metrics(registry, host, port, probes)
    except OSError as exc:
        where = set_at(settings, "metrics.host", port_key, inside=True)
        log.error("cannot serve metrics on %s:%d (metrics.host, %s%s): %s", host, port, port_key, where, exc)
        return None
    return server, bound
