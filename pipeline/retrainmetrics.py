"""The retrainer's Prometheus metrics (prefix ``dhag_``): labels taken in and dead-lettered, alert events
refused, runs by outcome (and the steps after a decision that failed), the registry's current version
and its versions by state, its Kafka operations that failed (``dhag_broker_failures_total``) and Kafka
refusing it (``dhag_broker_refusals_total``), with the daemon's names and labels.
:mod:`pipeline.metrics` re-exports it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pipeline.labels import LabelReason
from pipeline.refusals import REFUSAL_KINDS

__all__ = ["RETRAINER_FAILED_OPERATIONS", "RETRAINER_REFUSED_OPERATIONS", "RetrainMetrics"]

# What Kafka may refuse the retrainer (pipeline.retrain.refused): its start (its group's offsets, its
# topics' partitions), its polls, its label dead letters, its offset commits.
RETRAINER_REFUSED_OPERATIONS = ("connect", "poll", "produce", "commit")
# Its Kafka operations that fail (pipeline.retrain.outage): its start, its polls, the connection check
# after an empty poll, its offset commits, its label dead letters not acknowledged.
RETRAINER_FAILED_OPERATIONS = ("connect", "connection", "poll", "commit", "dead_letter")


class _Scrapes(Collector):
    """Notes that the registry was collected (scraped); exports nothing. Registered last, so the scrape
    that sets it has read every metric before."""

    def __init__(self, seen: threading.Event) -> None:
        self._seen = seen

    def describe(self) -> Iterable[Metric]:
        return []  # no names: the registry does not collect it to learn them

    def collect(self) -> Iterable[Metric]:
        self._seen.set()
        return []


class RetrainMetrics:
    """The retrainer's metrics on ``registry`` (labels received and dead-lettered, runs, the registry).

    Example
    -------
    >>> reg = CollectorRegistry()
    >>> m = RetrainMetrics(reg)
    >>> m.set_current_version("v2")
    >>> m.set_current_version("v3")
    >>> reg.get_sample_value("dhag_registry_current_info", {"version": "v3"})
    1.0
    >>> reg.get_sample_value("dhag_registry_current_info", {"version": "v2"}) is None
    True
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.labels_received = Counter(
            "dhag_labels_received",
            "Valid operator labels taken in, by label (a repeat of an earlier one left out; a label "
            "waiting for its alert once it joins it).",
            ["label"],
            registry=r,
        )
        self.labels_repeated = Counter(
            "dhag_labels_repeated",
            "Operator labels that repeat an earlier one (the same operator's same answer sent again): "
            "kept in the label store's history, counted nowhere (a label by reading found one as it "
            "joins its alert: then).",
            registry=r,
        )
        self.labels_changed = Counter(
            "dhag_labels_changed",
            "Operator labels that replaced another answer as the label that counts, by the new label.",
            ["label"],
            registry=r,
        )
        self.labels_dlq = Counter(
            "dhag_labels_dlq", "Operator labels sent to the labels DLQ, by reason.", ["reason"], registry=r
        )
        self.labels_dlq_too_large = Counter(
            "dhag_labels_dlq_too_large",
            "Label dead letters the labels DLQ topic (or the producer, over its 1 MiB) refused as too "
            "large: each sent again without its value (its label stays in its topic at dlq.source.*).",
            registry=r,
        )
        self.alerts_refused = Counter(
            "dhag_retrain_alert_events_refused",
            "anomaly-alerts events that break the alert contract, not recorded (logged with the field).",
            registry=r,
        )
        self.labels_pending = Gauge(
            "dhag_labels_pending", "Labels waiting for the alert they name to be seen.", registry=r
        )
        self.runs = Counter(
            "dhag_retrain_runs",
            "Retraining runs, by outcome: promoted, rejected, held (accepted, not promoted: a promotion "
            "hold), failed.",
            ["outcome"],
            registry=r,
        )
        self.after_decision_failures = Counter(
            "dhag_retrain_after_decision_failures",
            "Steps after a run's decision that failed, by step: prune (the registry's old versions), "
            "report (the run report). The run keeps its outcome.",
            ["step"],
            registry=r,
        )
        self.last_success = Gauge(
            "dhag_retrain_last_success_timestamp_seconds",
            "When a retraining run last finished without error (promoted or rejected); before the "
            "first, when the retrainer first ran on its label store. Kept there across restarts.",
            registry=r,
        )
        self.last_promotion = Gauge(
            "dhag_retrain_last_promotion_timestamp_seconds",
            "When a retraining run last promoted its candidate; before the first, when the retrainer "
            "first ran on its label store. Kept there across restarts.",
            registry=r,
        )
        self.promotions_held = Gauge(
            "dhag_retrain_promotions_held",
            "1 while a promotion hold is in place in the registry (models hold; a hold file that cannot "
            "be read holds too), 0 otherwise: runs train and judge, promote nothing. Set at start, each "
            "poll and each run.",
            registry=r,
        )
        self.started = Gauge(
            "dhag_retrain_started_timestamp_seconds",
            "When this retrainer process started (its changes count restarts).",
            registry=r,
        )
        self.started.set_to_current_time()
        self.last_run = Gauge(
            "dhag_retrain_last_run_timestamp_seconds", "When a retraining run last finished.", registry=r
        )
        self.last_failure = Gauge(
            "dhag_retrain_last_failure_timestamp_seconds",
            "When a retraining run last ended in an error (0: never); kept in the label store.",
            registry=r,
        )
        self.duration = Histogram(
            "dhag_retrain_duration_seconds",
            "Duration of a retraining run (data, training, gate).",
            buckets=(1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0),
            registry=r,
        )
        self.current_info = Gauge(
            "dhag_registry_current_info",
            "The registry's current model version (value 1).",
            ["version"],
            registry=r,
        )
        self.broker_refusals = Counter(
            "dhag_broker_refusals",
            "Kafka refusing the retrainer: its credentials (authentication) or an ACL (authorisation).",
            ["operation", "kind"],
            registry=r,
        )
        self.broker_failures = Counter(
            "dhag_broker_failures",
            "Failed Kafka operations of the retrainer, refusals included: its start, its polls, the "
            "connection check after an empty poll, its offset commits, its label dead letters not "
            "acknowledged (the daemon's name and label).",
            ["operation"],
            registry=r,
        )
        self.registry_versions = Gauge(
            "dhag_registry_versions",
            "The registry's model versions by state: readable, newer_release (a later dhag release's), "
            "bad_signature (not signed with the deployment's key), damaged (truncated, failing its "
            "checksum), io_error (its read failed: an I/O or permission error). Prune keeps every "
            "unreadable one. Counted at start, after each run's prune and hourly between runs.",
            ["state"],
            registry=r,
        )
        self.partitions_recreated = Counter(
            "dhag_retrain_partitions_recreated",
            "Partitions of a topic deleted and created again while the retrainer ran (or was stopped: "
            "a new topic id at its start): read_again (an alerts or labels partition of a new topic id, "
            "or whose position was past its end, read from its start), dropped (a partition the topic "
            "no longer has).",
            ["change"],
            registry=r,
        )
        self._version: str | None = None
        # Every series exists at 0 from the start, so that rate() and increase() see the first event.
        for outcome in ("promoted", "rejected", "held", "failed"):
            self.runs.labels(outcome)
        for label in ("anomaly", "normal"):
            self.labels_received.labels(label)
            self.labels_changed.labels(label)
        for change in ("read_again", "dropped"):
            self.partitions_recreated.labels(change)
        for step in ("prune", "report"):
            self.after_decision_failures.labels(step)
        for reason in LabelReason:
            self.labels_dlq.labels(reason.value)
        for operation in RETRAINER_REFUSED_OPERATIONS:
            for kind in REFUSAL_KINDS:
                self.broker_refusals.labels(operation, kind)
        for operation in RETRAINER_FAILED_OPERATIONS:
            self.broker_failures.labels(operation)
        # Set at the first scrape: a count made before it is lost to increase() where a restart starts
        # new series (a new pod address), as their first sample holds it already.
        self.scraped = threading.Event()
        registry.register(_Scrapes(self.scraped))

    def set_registry_versions(self, counts: dict[str, int]) -> None:
        """Show the registry's versions by state (``{"readable": 48, "damaged": 1, ...}``)."""
        for state, count in counts.items():
            self.registry_versions.labels(state).set(count)

    def set_current_version(self, version: str | None) -> None:
        """Show ``version`` as the registry's current one (only one series at a time)."""
        if version == self._version:
            return
        if self._version is not None:
            self.current_info.remove(self._version)
        if version is not None:
            self.current_info.labels(version).set(1.0)
        self._version = version
