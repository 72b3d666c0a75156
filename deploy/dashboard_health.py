"""The pipeline health dashboard (throughput, lag, latency, DLQ, the model, the consumer group, broker
failures, the retrainer) as JSON, from the building blocks of :mod:`dashboards`; :mod:`render` writes
it to ``grafana/dashboards/``.
"""

from __future__ import annotations

from dashboard_retrain import retraining_panels
from dashboards import (
    DAEMON_LEGEND,
    PLANT_LEGEND,
    RECORDS_PER_SECOND,
    SCORE,
    by_daemon,
    make_panel,
    own_axis,
    plant_variable,
    query_target,
    render_dashboard,
)


def pipeline_health() -> str:
    """Throughput, lag, latency, DLQ, model version, reloads, drift, replicas, broker failures by
    operation; then the retrainer; then the poll size, the share of readings beyond the model's
    training range, and the readings misdated or of an asset without a reference."""
    rate = "[$__rate_interval]"
    # A stat that adds up (daemons, paused daemons, labels waiting) or shows the worst (the broker) is
    # the chosen plants' total; one of a plant's own (its model, threshold, retraining) shows each plant.
    panels = [
        make_panel("stat", "Daemons up", (0, 0, 4, 4), [query_target("A", 'sum(up{job="dhag-pipeline"})')]),
        make_panel(
            "stat",
            "Model in use",
            (4, 0, 6, 4),
            [
                query_target(
                    "A", "count by (namespace, version) (dhag_model_info == 1)", "{{version}}" + PLANT_LEGEND
                )
            ],
            options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        make_panel(
            "stat",
            "Alert threshold",
            (10, 0, 4, 4),
            [query_target("A", "max by (namespace) (dhag_model_threshold)", PLANT_LEGEND.strip())],
            **SCORE,
        ),
        make_panel(
            "stat",
            "DLQ cap tripped (daemons paused)",
            (14, 0, 5, 4),
            [query_target("A", "sum(dhag_dlq_paused)")],
        ),
        make_panel(
            "stat", "Broker connected", (19, 0, 5, 4), [query_target("A", "min(dhag_broker_connected)")]
        ),
        make_panel(
            "timeseries",
            "Throughput (records/s)",
            (0, 4, 12, 8),
            [
                query_target(
                    "A", "sum by (namespace) (job:dhag_records_consumed:rate1m)", "consumed" + PLANT_LEGEND
                ),
                query_target(
                    "B",
                    "sum by (namespace, outcome) (job_outcome:dhag_records_processed:rate1m)",
                    "{{outcome}}" + PLANT_LEGEND,
                ),
            ],
            unit=RECORDS_PER_SECOND,
        ),
        make_panel(
            "timeseries",
            "Consumer lag (records)",
            (12, 4, 12, 8),
            [
                query_target(
                    "A",
                    "sum by (namespace, topic) (job_topic:dhag_consumer_lag_records:sum)",
                    "{{topic}}" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "max by (namespace, topic, partition) (dhag_consumer_lag_records)",
                    "{{topic}}/{{partition}}" + PLANT_LEGEND,
                ),
            ],
        ),
        make_panel(
            "timeseries",
            "Latency",
            (0, 12, 12, 8),
            [
                query_target(
                    "A",
                    "max by (namespace) (job:dhag_end_to_end_lag_seconds:p99_5m)",
                    "record ts to score p99" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "histogram_quantile(0.5, sum by (namespace, le) "
                    f"(rate(dhag_end_to_end_lag_seconds_bucket{rate})))",
                    "record ts to score p50" + PLANT_LEGEND,
                ),
                query_target(
                    "C",
                    "max by (namespace) (job:dhag_batch_duration_seconds:p99_5m)",
                    "poll to commit p99" + PLANT_LEGEND,
                ),
                query_target(
                    "D",
                    "histogram_quantile(0.99, sum by (namespace, le) "
                    f"(rate(dhag_scoring_duration_seconds_bucket{rate})))",
                    "scoring p99" + PLANT_LEGEND,
                ),
            ],
            unit="s",
        ),
        make_panel(
            "timeseries",
            "Dead-letter queue",
            (12, 12, 12, 8),
            [
                query_target(
                    "A", "max by (namespace) (dhag_dlq_window_ratio)", "share of recent window" + PLANT_LEGEND
                ),
                query_target(
                    "B",
                    "max by (namespace) (job:dhag_dlq_records:ratio_rate5m)",
                    "share over 5 min" + PLANT_LEGEND,
                ),
                query_target(
                    "C",
                    f"sum by (namespace, reason) (rate(dhag_dlq_records_total{rate}))",
                    "{{reason}} /s" + PLANT_LEGEND,
                ),
            ],
            unit="percentunit",  # the shares; the records per second by reason on an axis of their own
            overrides=[own_axis("C", RECORDS_PER_SECOND)],
        ),
        make_panel(
            "timeseries",
            "Model reloads (per hour)",
            (0, 20, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace, result) (increase(dhag_model_reloads_total[1h]))",
                    "{{result}}" + PLANT_LEGEND,
                )
            ],
        ),
        make_panel(
            "timeseries",
            "Drift detections (per hour)",
            (6, 20, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace, model_version) (increase(dhag_drift_detections_total[1h]))",
                    "{{model_version}}" + PLANT_LEGEND,
                )
            ],
        ),
        make_panel(
            "timeseries",
            "Partitions and replicas",
            (12, 20, 6, 7),
            [query_target("A", by_daemon("dhag_assigned_partitions"), DAEMON_LEGEND + PLANT_LEGEND)],
        ),
        # Which broker operation fails (DhagKafkaUnreachable, DhagOutputRefused, DhagConsumerReplaced,
        # DhagAlertsNotCarriedOver): connect, connection, poll, produce, commit, stalled, join, carry_over;
        # and of those, the ones Kafka refused, by how (DhagKafkaAccessRefused): a different fix. The
        # retrainer counts its failures and refusals too (DhagRetrainerKafkaUnreachable,
        # DhagRetrainerAccessRefused): by job, so they stay apart from the daemons'.
        make_panel(
            "timeseries",
            "Broker failures by operation (per hour)",
            (18, 20, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace, job, operation) (increase(dhag_broker_failures_total[1h]))",
                    "{{operation}} ({{job}})" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace, job, operation, kind) (increase(dhag_broker_refusals_total[1h]))",
                    "{{operation}} refused ({{kind}}, {{job}})" + PLANT_LEGEND,
                ),
            ],
        ),
        *retraining_panels(27),
        make_panel(
            "timeseries",
            "Records per poll allowed (shrinks when batches run slow)",
            (0, 44, 24, 6),
            [
                query_target(
                    "A", by_daemon("dhag_poll_max_records"), "limit " + DAEMON_LEGEND + PLANT_LEGEND
                ),
                query_target(
                    "B",
                    by_daemon("sum by (namespace, pod, instance) (rate(dhag_batch_records_sum[5m]))"),
                    "records/s " + DAEMON_LEGEND + PLANT_LEGEND,
                ),
            ],
            overrides=[own_axis("B", RECORDS_PER_SECOND)],  # records per second beside the limit in records
        ),
        make_panel(
            "timeseries",
            "Readings beyond the training range (share of scored; alert above 10 % for 30 min)",
            (0, 50, 12, 6),
            [
                query_target(
                    "A",
                    f"sum by (namespace) (rate(dhag_readings_outside_training_range_total{rate})) / "
                    f'sum by (namespace) (rate(dhag_records_processed_total{{outcome="ok"}}{rate}))',
                    "beyond the training range" + PLANT_LEGEND,
                )
            ],
            unit="percentunit",
        ),
        # Readings scored on a wrong date (a device clock reset: DhagReadingsMisdated) or against the
        # fleet's median reference (an asset the plant model has none for: DhagReadingsUnreferenced),
        # counted over the five minutes each alert judges at a time.
        make_panel(
            "timeseries",
            "Readings misdated, and of an asset without a reference (per 5 min; alerts when some in "
            "every 5 min: misdated for 35 min, without a reference for 30 min)",
            (12, 50, 12, 6),
            [
                query_target(
                    "A",
                    "sum by (namespace) (increase(dhag_readings_misdated_total[5m]))",
                    "misdated" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace) (increase(dhag_readings_unreferenced_total[5m]))",
                    "no reference" + PLANT_LEGEND,
                ),
            ],
        ),
        make_panel(
            "heatmap",
            "Anomaly-score distribution (a lasting shift is what DhagDriftDetected reports)",
            (0, 56, 24, 8),
            # The chosen plants' scores together: a heatmap has one series per bucket bound.
            [
                query_target(
                    "A", "sum by (le) (increase(dhag_anomaly_score_bucket[$__rate_interval]))", "{{le}}"
                )
                | {"format": "heatmap"}
            ],
            options={"calculate": False, "yAxis": {"unit": "short"}, "cellGap": 1},
        ),
    ]
    return render_dashboard("dhag-pipeline-health", "DHAG pipeline health", panels, [plant_variable()])
