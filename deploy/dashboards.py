"""The Grafana dashboards (plant overview, pipeline health) as JSON, built from their panels' queries.

:mod:`render` writes them to ``grafana/dashboards/``; both read the Prometheus datasource of
``grafana/provisioning/datasources`` by its uid.
"""

from __future__ import annotations

import json
from typing import Any

DATASOURCE_UID = "dhag-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
# The plant overview's table of each open alert's first suspect sensor (empty while no alert is open).
OPEN_ALERTS_SUSPECT = "Open alerts: suspect sensor"


def _target(ref: str, expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    target = {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto"}
    if instant:
        target |= {"instant": True, "range": False, "format": "table"}
    return target


def _panel(
    kind: str, title: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    x, y, w, h = grid
    unit = extra.pop("unit", "short")
    panel = {
        "type": kind,
        "title": title,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": extra.pop("options", {}),
    }
    return panel | extra


def _dashboard(
    uid: str,
    title: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
    annotations: list[dict[str, Any]] | None = None,
) -> str:
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    dashboard = {
        "uid": uid,
        "title": title,
        "tags": ["dhag"],
        "timezone": "browser",
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": annotations or []},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",  # "All" is every series, not only the values listed when the page loaded
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
    }


# The fewest anomalous assets at once that make DhagManyAssetsAnomalous fire for a plant:
# max(5, min(a fifth, 20), a tenth) of its assets scored, rounded up.
_SCORED = "job:dhag_asset_anomalous:count"
_COMMON_CAUSE_AT = f"ceil(clamp_min(clamp_max(0.2 * {_SCORED}, 20), 5) > 0.1 * {_SCORED} or 0.1 * {_SCORED})"
# Marks on the plant overview's time axis: when a model version came into use (a promotion or a
# rollback: did many assets turn anomalous right after?), and while DhagManyAssetsAnomalous fired
# (Prometheus's own alert state; none where Grafana evaluates the rules).
_PLANT_ANNOTATIONS = [
    {
        "name": "Model promoted",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "purple",
        "expr": "count by (version) (dhag_model_info == 1)"
        " unless count by (version) (dhag_model_info offset 5m == 1)",
        "step": "1m",
        "titleFormat": "Model {{version}} in use",
    },
    {
        "name": "Many assets anomalous",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": 'ALERTS{alertname="DhagManyAssetsAnomalous", alertstate="firing"}',
        "step": "1m",
        "titleFormat": "DhagManyAssetsAnomalous {{asset_group}}",
    },
]


def plant_overview() -> str:
    """Assets by state, alert timeline, anomaly score per asset, top assets, the suspect sensor of each
    open alert, alerts per hour, which assets run beyond their training history, and how far each
    asset's clock lies from Kafka's."""
    sel = '{asset_group=~"$asset_group"}'
    off = f"dhag:asset_clock_offset_seconds{sel}"
    # Each asset once, whichever daemons export it: while its partition moves, two do for a scrape or two
    # (dhag-recording.yml's per-group counts take the largest state over the daemons).
    anomalous = f"sum(job_asset_group:dhag_asset_anomalous:sum{sel})"
    scored = f"sum(job_asset_group:dhag_asset_anomalous:count{sel})"
    panels = [
        _panel(
            "stat",
            "Assets anomalous now",
            (0, 0, 6, 5),
            [_target("A", anomalous)],
            options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        _panel(
            "stat",
            "Assets normal now",
            (6, 0, 6, 5),
            [_target("A", f"{scored} - {anomalous}")],
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        _panel(
            "bargauge",
            "Anomalous assets by group",
            (12, 0, 12, 5),
            [_target("A", f"job_asset_group:dhag_asset_anomalous:sum{sel}", "{{asset_group}}", instant=True)],
        ),
        # A plant-wide event (DhagManyAssetsAnomalous): how many assets are anomalous at once, of how
        # many scored, and how many make the plant's alert fire (dhag-recording.yml's common-cause rule:
        # at least 5, at least a fifth or 20, at least a tenth; for one plant, all groups).
        _panel(
            "timeseries",
            "Assets anomalous at once, of those scored (the plant-wide alert fires at the dashed line)",
            (0, 5, 24, 8),
            [
                _target("A", anomalous, "anomalous"),
                _target("B", scored, "scored"),
                _target("C", f"max({_COMMON_CAUSE_AT})", "plant-wide alert at"),
            ],
            fieldConfig={
                "defaults": {"unit": "short"},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "plant-wide alert at"},
                        "properties": [
                            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
                        ],
                    }
                ],
            },
        ),
        _panel(
            "state-timeline",
            "Alert timeline (1 = open alert)",
            (0, 13, 24, 9),
            [_target("A", f"max by (asset) (dhag:asset_anomalous{sel})", "{{asset}}")],
            options={"mergeValues": True, "showValue": "never"},
        ),
        _panel(
            "timeseries",
            "Anomaly score per asset",
            (0, 22, 16, 10),
            [
                _target("A", f"max by (asset) (dhag:asset_score{sel})", "{{asset}}"),
                _target(
                    "B",
                    "max by (version) (dhag_model_threshold * on (instance, job) group_left (version) "
                    "(dhag_model_info == 1))",
                    "threshold {{version}}",
                ),
            ],
            unit="percentunit",
        ),
        _panel(
            "table",
            "Top assets by anomaly score",
            (16, 22, 8, 10),
            [_target("A", f"topk(10, max by (asset, asset_group) (dhag:asset_score{sel}))", instant=True)],
            unit="percentunit",
        ),
        _panel(
            "table",
            OPEN_ALERTS_SUSPECT,
            (0, 32, 24, 6),
            [_target("A", f"max by (asset, sensor) (dhag:asset_suspect_sensor{sel})", instant=True)],
            # One row per open alert that names a suspect: the sensor to check first.
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}],
        ),
        _panel(
            "timeseries",
            "Alerts opened and resolved (per hour)",
            (0, 38, 14, 7),
            [
                _target("A", "sum(increase(dhag_alerts_opened_total[1h]))", "opened"),
                _target(
                    "B",
                    "sum by (resolved_by) (increase(dhag_alerts_resolved_total[1h]))",
                    "resolved ({{resolved_by}})",
                ),
            ],
        ),
        # Open episodes passed from one daemon to another: carried over to a partition's next owner
        # (restart, partition move) or to an asset's new partition, handed over by the old owner (its
        # silence resolution dropped), and the reads of the alerts topic for them that failed (a fault
        # under way then opens again under a new alert_id).
        _panel(
            "timeseries",
            "Open alerts passed between daemons (per hour)",
            (14, 38, 10, 7),
            [
                _target("A", "sum(increase(dhag_alerts_carried_over_total[1h]))", "carried over"),
                _target("B", "sum(increase(dhag_alerts_handed_over_total[1h]))", "handed over"),
                _target(
                    "C",
                    'sum(increase(dhag_broker_failures_total{operation="carry_over"}[1h]))',
                    "alerts topic not read",
                ),
            ],
        ),
        _panel(
            "state-timeline",
            "Beyond the training history (1 = the asset's latest reading is outside what it did in training)",
            (0, 45, 24, 8),
            [_target("A", f"max by (asset) (dhag:asset_outside_training_range{sel})", "{{asset}}")],
            options={"mergeValues": True, "showValue": "never"},
        ),
        # A gateway whose clock is off dates its assets' readings, and so their alerts, off by as much.
        _panel(
            "timeseries",
            "Clock offset per asset (reading ts minus the time Kafka took it; negative: behind)",
            (0, 53, 16, 8),
            [_target("A", f"max by (asset) ({off})", "{{asset}}")],
            unit="s",
        ),
        _panel(
            "table",
            "Assets whose clock is off by over a minute",
            (16, 53, 8, 8),
            [_target("A", f"max by (asset, asset_group) ({off} < -60 or {off} > 60)", instant=True)],
            unit="s",
        ),
    ]
    variables = [_variable("asset_group", "Asset group", "label_values(dhag:asset_score, asset_group)")]
    return _dashboard("dhag-plant-overview", "DHAG plant overview", panels, variables, _PLANT_ANNOTATIONS)


def pipeline_health() -> str:
    """Throughput, lag, latency, DLQ, model version, reloads, drift, replicas, broker failures by
    operation; then the retrainer; then the poll size and the share of readings beyond the model's
    training range."""
    rate = "[$__rate_interval]"
    panels = [
        _panel("stat", "Daemons up", (0, 0, 4, 4), [_target("A", 'sum(up{job="dhag-pipeline"})')]),
        _panel(
            "stat",
            "Model in use",
            (4, 0, 6, 4),
            [_target("A", "count by (version) (dhag_model_info == 1)", "{{version}}")],
            options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        _panel(
            "stat",
            "Alert threshold",
            (10, 0, 4, 4),
            [_target("A", "max(dhag_model_threshold)")],
            unit="percentunit",
        ),
        _panel(
            "stat", "DLQ cap tripped (daemons paused)", (14, 0, 5, 4), [_target("A", "sum(dhag_dlq_paused)")]
        ),
        _panel("stat", "Broker connected", (19, 0, 5, 4), [_target("A", "min(dhag_broker_connected)")]),
        _panel(
            "timeseries",
            "Throughput (records/s)",
            (0, 4, 12, 8),
            [
                _target("A", "sum(job:dhag_records_consumed:rate1m)", "consumed"),
                _target("B", "sum by (outcome) (job_outcome:dhag_records_processed:rate1m)", "{{outcome}}"),
            ],
            unit="reqps",
        ),
        _panel(
            "timeseries",
            "Consumer lag (records)",
            (12, 4, 12, 8),
            [
                _target("A", "sum by (topic) (job_topic:dhag_consumer_lag_records:sum)", "{{topic}}"),
                _target(
                    "B", "max by (topic, partition) (dhag_consumer_lag_records)", "{{topic}}/{{partition}}"
                ),
            ],
        ),
        _panel(
            "timeseries",
            "Latency",
            (0, 12, 12, 8),
            [
                _target("A", "max(job:dhag_end_to_end_lag_seconds:p99_5m)", "record ts to score p99"),
                _target(
                    "B",
                    f"histogram_quantile(0.5, sum by (le) (rate(dhag_end_to_end_lag_seconds_bucket{rate})))",
                    "record ts to score p50",
                ),
                _target("C", "max(job:dhag_batch_duration_seconds:p99_5m)", "poll to commit p99"),
                _target(
                    "D",
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(dhag_scoring_duration_seconds_bucket{rate})))",
                    "scoring p99",
                ),
            ],
            unit="s",
        ),
        _panel(
            "timeseries",
            "Dead-letter queue",
            (12, 12, 12, 8),
            [
                _target("A", "max(dhag_dlq_window_ratio)", "share of recent window"),
                _target("B", "max(job:dhag_dlq_records:ratio_rate5m)", "share over 5 min"),
                _target("C", f"sum by (reason) (rate(dhag_dlq_records_total{rate}))", "{{reason}} /s"),
            ],
            unit="percentunit",
        ),
        _panel(
            "timeseries",
            "Model reloads (per hour)",
            (0, 20, 6, 7),
            [_target("A", "sum by (result) (increase(dhag_model_reloads_total[1h]))", "{{result}}")],
        ),
        _panel(
            "timeseries",
            "Drift detections (per hour)",
            (6, 20, 6, 7),
            [
                _target(
                    "A",
                    "sum by (model_version) (increase(dhag_drift_detections_total[1h]))",
                    "{{model_version}}",
                )
            ],
        ),
        _panel(
            "timeseries",
            "Partitions and replicas",
            (12, 20, 6, 7),
            [_target("A", "dhag_assigned_partitions", "{{instance}}")],
        ),
        # Which broker operation fails (DhagKafkaUnreachable, DhagOutputRefused, DhagConsumerReplaced,
        # DhagAlertsNotCarriedOver): connect, connection, poll, produce, commit, stalled, join, carry_over.
        _panel(
            "timeseries",
            "Broker failures by operation (per hour)",
            (18, 20, 6, 7),
            [_target("A", "sum by (operation) (increase(dhag_broker_failures_total[1h]))", "{{operation}}")],
        ),
        *_retraining_panels(27),
        _panel(
            "timeseries",
            "Records per poll allowed (shrinks when batches run slow)",
            (0, 38, 24, 6),
            [
                _target("A", "dhag_poll_max_records", "limit {{instance}}"),
                _target(
                    "B", "sum by (instance) (rate(dhag_batch_records_sum[5m]))", "records/s {{instance}}"
                ),
            ],
        ),
        _panel(
            "timeseries",
            "Readings beyond the training range (share of scored; alert above 10 % for 30 min)",
            (0, 44, 24, 6),
            [
                _target(
                    "A",
                    f"sum(rate(dhag_readings_outside_training_range_total{rate})) / "
                    f'sum(rate(dhag_records_processed_total{{outcome="ok"}}{rate}))',
                    "beyond the training range",
                )
            ],
            unit="percentunit",
        ),
        _panel(
            "heatmap",
            "Anomaly-score distribution (a lasting shift is what DhagDriftDetected reports)",
            (0, 50, 24, 8),
            [
                _target("A", "sum by (le) (increase(dhag_anomaly_score_bucket[$__rate_interval]))", "{{le}}")
                | {"format": "heatmap"}
            ],
            options={"calculate": False, "yAxis": {"unit": "short"}, "cellGap": 1},
        ),
    ]
    return _dashboard("dhag-pipeline-health", "DHAG pipeline health", panels, [])


def _retraining_panels(top: int) -> list[dict[str, Any]]:
    """The retrainer's row (job dhag-retrainer): runs, last success, labels received, answers sent again
    and changed, label DLQ, registry version."""
    return [
        _panel("stat", "Retrainer up", (0, top, 4, 4), [_target("A", 'sum(up{job="dhag-retrainer"})')]),
        _panel(
            "stat",
            "Registry current version",
            (4, top, 6, 4),
            [_target("A", "count by (version) (dhag_registry_current_info == 1)", "{{version}}")],
            options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        _panel(
            "stat",
            "Since the last successful retraining",
            (10, top, 5, 4),
            # The latest over a week, as DhagRetrainingStale reads it: a restarted retrainer starts at 0.
            [
                _target(
                    "A", "time() - max(max_over_time(dhag_retrain_last_success_timestamp_seconds[7d]) > 0)"
                )
            ],
            unit="s",
        ),
        _panel(
            "stat",
            "Since the last retraining run",
            (15, top, 5, 4),
            [_target("A", "time() - max(max_over_time(dhag_retrain_last_run_timestamp_seconds[7d]) > 0)")],
            unit="s",
        ),
        _panel(
            "stat",
            "Labels waiting for their alert",
            (20, top, 4, 4),
            [_target("A", "sum(dhag_labels_pending)")],
        ),
        _panel(
            "timeseries",
            "Retraining runs by outcome (per day)",
            (0, top + 4, 6, 7),
            [_target("A", "sum by (outcome) (increase(dhag_retrain_runs_total[1d]))", "{{outcome}}")],
        ),
        _panel(
            "timeseries",
            "Labels received (per hour)",
            (6, top + 4, 6, 7),
            [_target("A", "sum by (label) (increase(dhag_labels_received_total[1h]))", "{{label}}")],
        ),
        # Beside the labels received: answers sent again (a producer retry, a console's second submit;
        # left out of those received) and answers that replaced an earlier one, by the new answer.
        _panel(
            "timeseries",
            "Answers sent again, and changed (per hour)",
            (12, top + 4, 6, 7),
            [
                _target("A", "sum(increase(dhag_labels_repeated_total[1h]))", "sent again"),
                _target(
                    "B", "sum by (label) (increase(dhag_labels_changed_total[1h]))", "changed to {{label}}"
                ),
            ],
        ),
        _panel(
            "timeseries",
            "Label DLQ (per hour)",
            (18, top + 4, 6, 7),
            [_target("A", "sum by (reason) (increase(dhag_labels_dlq_total[1h]))", "{{reason}}")],
        ),
        _panel(
            "timeseries",
            "Retraining run duration (mean over a day)",
            (0, top + 11, 24, 6),
            [
                _target(
                    "A",
                    "sum(increase(dhag_retrain_duration_seconds_sum[1d]))"
                    " / sum(increase(dhag_retrain_duration_seconds_count[1d]))",
                    "mean run duration",
                )
            ],
            unit="s",
        ),
    ]
