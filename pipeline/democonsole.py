"""The demo's console: reads alerts and ground truth, scrapes the daemon's and the retrainer's metrics
endpoints, and prints the periodic summary (records/s, lag, model in use, labels and retraining runs,
open alerts with their top sensors, precision / recall against the truth)."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, TextIO

import orjson
from kafka import KafkaConsumer, TopicPartition

from dhag.infotext import shown_name
from pipeline.alertepisodes import unlabellable_mark
from pipeline.alertid import id_refusal
from pipeline.alertsread import RetrainerKeeps, alert_document, unreadable_note, why_unreadable
from pipeline.brokerlink import client_options
from pipeline.config import Settings
from pipeline.demokafka import step
from pipeline.kafkaclients import closed_on_failure
from pipeline.metrics import scrape as metric_samples
from pipeline.operator import SimulatedOperator
from pipeline.scoreboard import Scoreboard
from pipeline.scrape import reachable_host
from pipeline.simulator.stream import StreamStats
from pipeline.warmup import STANDSTILL, WARMING_UP

__all__ = ["TRUTH_TOPIC", "DemoConsole", "RateMeter", "machines_note", "scrape", "scrape_retrainer"]

TRUTH_TOPIC = "sensor-truth"
# The daemon scores in batches: a rate over the last few polls swings between 0 and a batch's burst.
RATE_WINDOW_S = 10.0
# How many machines the screen names in each state before it says how many more.
MACHINES_NAMED = 3


class RateMeter:
    """The rate of a growing counter over (at least) the last ``window_s`` seconds of samples (None until
    two samples some time apart).

    Example
    -------
    >>> meter = RateMeter(10.0)
    >>> for t, total in [(0, 0), (1, 500), (2, 500), (3, 500), (11, 600), (12, 1100)]:
    ...     meter.add(t, total)
    >>> meter.rate  # (1100 - 500) / (12 - 2): the oldest sample kept is 10 s before the newest
    60.0
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, float]] = deque()
        self.rate: float | None = None

    def add(self, t: float, total: float) -> None:
        self.samples.append((t, total))
        while len(self.samples) > 2 and t - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        t0, total0 = self.samples[0]
        if t > t0:
            self.rate = (total - total0) / (t - t0)


def scrape(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    """Records processed, consumer lag, the model version in use and each asset's state
    (``dhag_asset_state``, a plant model's: ``states``, asset to 0 running, 1 at standstill, 2 warming
    up) from the daemon's metrics endpoint at ``host`` (:func:`~pipeline.scrape.reachable_host`; empty
    when unreachable)."""
    samples = metric_samples(port, host=host)
    if samples is None:
        return {}
    totals: dict[str, Any] = {"processed": 0.0, "lag": 0.0, "version": None, "states": {}}
    for sample in samples:
        if sample.name == "dhag_records_processed_total":
            totals["processed"] += sample.value
        elif sample.name == "dhag_consumer_lag_records":
            totals["lag"] += sample.value
        elif sample.name == "dhag_model_info" and sample.value == 1:
            totals["version"] = sample.labels["version"]
        elif sample.name == "dhag_asset_state":
            totals["states"][sample.labels["asset"]] = int(sample.value)
    return totals


def machines_note(states: dict[str, int]) -> str | None:
    """The screen's line on the machines not running (None when all run): those at standstill, then
    those warming up, each sorted, the first :data:`MACHINES_NAMED` named and the rest counted.

    >>> machines_note({"pump-02": 1, "fan-03": 2, "pump-01": 0})
    'machines: stopped pump-02 | warming up fan-03'
    >>> machines_note({f"pump-{i:02d}": 1 for i in range(5, 0, -1)})
    'machines: stopped pump-01, pump-02, pump-03 and 2 more'
    >>> machines_note({"pump-01": 0}) is None
    True
    """
    parts = []
    for state, said in ((STANDSTILL, "stopped"), (WARMING_UP, "warming up")):
        assets = sorted(asset for asset, value in states.items() if value == state)
        if assets:
            named = ", ".join(shown_name(asset) for asset in assets[:MACHINES_NAMED])
            more = len(assets) - MACHINES_NAMED
            parts.append(f"{said} {named}{f' and {more} more' if more > 0 else ''}")
    return "machines: " + " | ".join(parts) if parts else None


def scrape_retrainer(port: int, host: str = "127.0.0.1") -> dict[str, int]:
    """Retraining runs by outcome from the retrainer's metrics endpoint at ``host`` (empty when
    unreachable)."""
    samples = metric_samples(port, host=host)
    if samples is None:
        return {}
    return {s.labels["outcome"]: int(s.value) for s in samples if s.name == "dhag_retrain_runs_total"}


class DemoConsole:
    """Reads alerts and truth, scrapes metrics, prints the periodic summary."""

    #: Each asset's ``dhag_asset_state`` as the daemon's metrics last said (None until they answer).
    states: dict[str, int] | None = None

    def __init__(
        self,
        bootstrap: str,
        settings: Settings,
        port: int,
        out: TextIO,
        *,
        operator: SimulatedOperator | None = None,
        retrainer_port: int | None = None,
        truth_topic: str = TRUTH_TOPIC,
    ) -> None:
        self.out = out
        self.port = port
        self.host = reachable_host(settings.metrics.host)  # where its children serve their metrics
        self.operator = operator
        self.retrainer_port = retrainer_port
        self.version: str | None = None
        self.runs: dict[str, int] = {}
        self.alert_versions: dict[str, str] = {}
        self.alerts_topic = settings.kafka.topics.alerts
        self.truth_topic = truth_topic
        self.board = Scoreboard()
        self.reading = f"{self.alerts_topic} and {truth_topic}"
        # A reader in no group, reaching the cluster as the daemon's clients do (its security settings).
        with step(f"making its reader of {self.reading}"):
            self.consumer = closed_on_failure(
                KafkaConsumer,
                group_id=None,
                enable_auto_commit=False,
                **client_options(settings.kafka, bootstrap),
            )
            try:
                parts = [
                    TopicPartition(topic, p)
                    for topic in (self.alerts_topic, truth_topic)
                    for p in (self.consumer.partitions_for_topic(topic) or ())
                ]
                self.consumer.assign(parts)
                self.consumer.seek_to_beginning()
            except BaseException:
                self.consumer.close()
                raise
        self.scored = RateMeter(RATE_WINDOW_S)
        self.lag: float | None = None  # None until the daemon's metrics answer
        self.unreadable = 0  # records of the alerts topic that are no alert event
        self.unreadable_named: list[tuple[Any, str]] = []  # the first of them, each with why
        self.judged = RetrainerKeeps()  # which alerts a label can join, as `dhag-pipeline alerts` judges

    def poll(self) -> None:
        """Read the alerts and truth come since, let the operator answer what is due, scrape the metrics;
        raises :class:`~pipeline.demokafka.DemoKafkaError` naming what Kafka failed."""
        with step(f"reading {self.reading}"):
            polled = self.consumer.poll(timeout_ms=200, max_records=10_000)
        for messages in polled.values():
            for msg in messages:
                if msg.topic == self.truth_topic:
                    self.board.add_truth(orjson.loads(msg.value))  # the simulator's, strict JSON
                else:
                    self._take_alert(msg)
        if self.operator is not None:
            with step("sending the simulated operator's labels", "write to"):
                self.operator.answer_due(self.board, now=time.time())
        if self.retrainer_port is not None:
            self.runs = scrape_retrainer(self.retrainer_port, self.host) or self.runs
        scraped = scrape(self.port, self.host)
        if scraped:
            now = time.monotonic()
            self.scored.add(now, scraped["processed"])
            self.lag = scraped["lag"]
            self.version = scraped["version"] or self.version
            self.states = scraped.get("states", {})

    def _take_alert(self, msg: Any) -> None:
        """One record of the alerts topic, read as `dhag-pipeline alerts` reads it (a NaN or Infinity
        score is a number); one that is no alert event (something else writes to the topic) is counted
        and named on the screen, never the end of the demo."""
        event = None
        try:
            event = alert_document(msg.value)
            if (why := id_refusal(event["alert_id"])) is not None:
                raise ValueError(why)
            self.board.add_alert(event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.unreadable += 1
            if len(self.unreadable_named) < 3:
                self.unreadable_named.append((msg, why_unreadable(exc, event)))
            return
        alert_id = str(event["alert_id"])
        self.judged.read(alert_id, event)
        if alert_id in self.board.alerts:  # the operator leaves one unlabelled, as `label` refuses it
            self.board.alerts[alert_id].unlabellable = self.judged.refusal(alert_id)
        if event.get("state") == "open":
            self.alert_versions[str(event["alert_id"])] = str(event.get("model_version"))
            if self.operator is not None:
                self.operator.saw_alert(str(event["alert_id"]), now=time.time())

    def print_summary(self, elapsed: float, stats: StreamStats) -> None:
        board, now = self.board, time.time()
        precision, recall = board.precision(), board.recall(now=now)
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        rate = "-" if self.scored.rate is None else f"{self.scored.rate:.0f}"
        lag = "-" if self.lag is None else f"{self.lag:.0f}"
        covered, missed = board.undetected(now=now)
        # A fault begun under its asset's open alert is no plain miss: the operator was paged for it.
        undetected = f" ({covered + missed} undetected: {covered} under an open alert, {missed} missed)"
        self.out.write(
            f"[{elapsed:5.0f} s] {rate:>6} records/s scored, lag {lag} | plant "
            f"{stats.sim_seconds / 60:.0f} sim-min, faults {len(board.faults)} "
            f"({len(board.active_faults(now))} active) | alerts {len(board.alerts)} "
            f"({len(board.open_alerts())} open) | precision {fmt(precision)} recall {fmt(recall)}"
            f"{undetected if covered + missed else ''}\n"
        )
        if (machines := machines_note(self.states or {})) is not None:  # a stop, a cold start
            self.out.write(f"    {machines}\n")
        if (sent := stats.deliveries).failing():  # its cluster gone: the daemon has nothing to score
            self.out.write(
                f"    plant: Kafka is not taking its records ({sent.undelivered} of the {sent.sent} sent not "
                f"delivered): {sent.last_error}\n"
            )
        if self.unreadable:
            note = unreadable_note(self.unreadable_named, self.unreadable, self.alerts_topic)
            self.out.write(f"    {note}\n")
        if self.operator is not None:
            stats = self.operator.stats
            runs = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.runs.items()) if n) or "none yet"
            runs = runs if self.retrainer_port is not None else "off (--no-retrain)"
            by_model = "; ".join(
                f"{shown_name(version)}: {fmt(row['precision'])} of {row['alerts']}"
                for version, row in self.by_model().items()
            )
            n = stats.unlabellable  # alerts `label` would refuse: their labels would be dead-lettered
            left = f"; {n} alert{'' if n == 1 else 's'} not labellable left unlabelled" if n else ""
            self.out.write(
                f"    model in use {self.version or '-'} | operator labels {stats.total} "
                f"({stats.anomaly} anomaly, {stats.normal} normal, {stats.wrong} wrong on purpose{left}) | "
                f"retraining runs: {runs}\n"
                f"    precision by model version: {by_model or '-'}\n"
            )
        # What the topics say (asset ids, model versions, fault kinds) as `dhag-pipeline alerts` shows it.
        for alert in board.open_alerts()[:8]:
            cause = board.cause(alert)
            cause = "no fault: false alert" if cause is None else shown_name(cause)
            asset = shown_name(alert.asset_id)
            score = f"{alert.score:.3f}" if math.isfinite(alert.score) else "-"  # unknown, as the consoles
            refused = "" if alert.unlabellable is None else f"  {unlabellable_mark(alert.unlabellable)}"
            self.out.write(
                f"    OPEN {asset:<14} score {score}  top {', '.join(alert.top_sensors)}"
                f"  suspect: {alert.suspects[0] if alert.suspects else '-'}  [truth: {cause}]{refused}\n"
            )
        self.out.flush()

    def by_model(self) -> dict[str, dict[str, Any]]:
        """Alerts and their precision per model version that opened them, in order of first alert."""
        rows: dict[str, dict[str, Any]] = {}
        for alert_id, alert in self.board.alerts.items():
            row = rows.setdefault(self.alert_versions.get(alert_id, "?"), {"alerts": 0, "true": 0})
            row["alerts"] += 1
            row["true"] += self.board.cause(alert) is not None
        return {v: {"alerts": r["alerts"], "precision": r["true"] / r["alerts"]} for v, r in rows.items()}

    def _machines(self, state: int) -> list[str] | None:
        if self.states is None:
            return None
        return sorted(asset for asset, value in self.states.items() if value == state)

    def summary(self, stats: StreamStats) -> dict[str, Any]:
        """The run's results for the final summary line; ``model_at_end`` is the version the daemon's
        metrics last named (None if they never answered)."""
        board, now = self.board, time.time()
        covered, missed = board.undetected(now=now)
        return {
            "records_produced": stats.records,
            "records_not_delivered": stats.deliveries.undelivered,  # records and truth events Kafka failed
            "alert_records_unreadable": self.unreadable,  # of the alerts topic: no alert event
            # whose events the retrainer refuses each: `label` refuses them, the operator left them
            "alerts_not_labellable": sum(a.unlabellable is not None for a in board.alerts.values()),
            "sim_minutes": round(stats.sim_seconds / 60, 1),
            "faults_started": len(board.faults),
            "faults_detected": len(board.detected()),
            "alerts_opened": len(board.alerts),
            "true_positive_alerts": board.true_positives(),
            "precision": board.precision(),
            "recall": board.recall(now=now),
            # Of the faults recall counts undetected: begun under their asset's open alert, or missed.
            "faults_covered_by_open_alert_undetected": covered,
            "faults_missed": missed,
            "detected_kinds": sorted({f.kind for f in board.detected()}),
            "model_at_end": self.version,
            # As the daemon's metrics last said (None if they never answered): at standstill, warming up.
            "machines_stopped_at_end": self._machines(STANDSTILL),
            "machines_warming_up_at_end": self._machines(WARMING_UP),
            "precision_by_model": self.by_model(),
            "labels_given": self.operator.stats.total if self.operator is not None else 0,
            "retrain_runs": self.runs,
        }
