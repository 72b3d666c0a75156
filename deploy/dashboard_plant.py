"""The plant overview dashboard: the state of each asset, built from :mod:`dashboards`' blocks.

:mod:`render` writes it to ``grafana/dashboards/dhag-plant-overview.json``.
"""

from __future__ import annotations

from typing import Any

from dashboards import (
    OPEN_ALERTS_SUSPECT,
    PANEL_DATASOURCE,
    PLANT_LEGEND,
    SCORE,
    make_panel,
    plant_filtered,
    plant_table,
    plant_variable,
    query_target,
    render_dashboard,
    template_variable,
)

# The plant overview's table of the assets scored in the last day that are not scored now.
SILENT_ASSETS = "Assets no longer scored (silent, or their daemon down)"
# The plant overview's timeline of its plant models' machines: running, stopped or warming up.
MACHINE_STATES = "Machines stopped or warming up (plant model)"
_STATE_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "running", "color": "green", "index": 0},
            "1": {"text": "stopped", "color": "blue", "index": 1},
            "2": {"text": "warming up", "color": "orange", "index": 2},
        },
    }
]
_STOPPED_LEFT_OUT = (
    "A plant model's machine at standstill is left out while it stands still: its score, near 1, is "
    "judged normal and opens no alert (see " + MACHINE_STATES + ")."
)
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
        "datasource": PANEL_DATASOURCE,
        "enable": True,
        "iconColor": "purple",
        "expr": plant_filtered(
            "count by (namespace, version) (dhag_model_info == 1)"
            " unless count by (namespace, version) (dhag_model_info offset 5m == 1)"
        ),
        "step": "1m",
        # The plant as a tag: a title would read a missing label (compose) as its name.
        "titleFormat": "Model {{version}} in use",
        "tagKeys": "namespace",
    },
    {
        "name": "Many assets anomalous",
        "datasource": PANEL_DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": plant_filtered('ALERTS{alertname="DhagManyAssetsAnomalous", alertstate="firing"}'),
        "step": "1m",
        "titleFormat": "DhagManyAssetsAnomalous {{asset_group}}",
        "tagKeys": "namespace",
    },
]


def _sensor_table(title: str, pos: tuple[int, int, int, int], series: str, **extra: Any) -> dict[str, Any]:
    """A table of a per-asset, per-sensor series now: a row per asset and sensor, in its plant."""
    target = query_target("A", f"max by (namespace, asset, sensor) ({series})", instant=True)
    return make_panel(
        "table", title, pos, [target], transformations=plant_table(hidden=("Time", "Value")), **extra
    )


def plant_overview() -> str:
    """Assets by state, alert timeline, anomaly score per asset and top assets (of the machines not at
    standstill), which machines stand still or warm up, the suspect sensor of each open alert, the
    assets no longer scored, alerts per hour, which assets run beyond their training
    history, and how far each asset's clock lies from Kafka's."""
    sel = '{asset_group=~"$asset_group"}'
    off = f"dhag:asset_clock_offset_seconds{sel}"
    # A machine at standstill scores near 1 and is judged normal: left out of the scores (a gap in its
    # line while it stands still), as it is of the alerts; the states panel draws it.
    state = f"dhag:asset_state{sel}"
    running = f" unless on (namespace, asset) ({state} == 1)"
    # Each asset once, whichever daemons export it: while its partition moves, two do for a scrape or two
    # (dhag-recording.yml's per-group counts take the largest state over the daemons).
    anomalous_series = f"job_asset_group:dhag_asset_anomalous:sum{sel}"
    scored_series = f"job_asset_group:dhag_asset_anomalous:count{sel}"
    # The stats: the chosen plants' total (choosing one plant shows its own).
    anomalous, scored = f"sum({anomalous_series})", f"sum({scored_series})"
    panels = [
        make_panel(
            "stat",
            "Assets anomalous now",
            (0, 0, 6, 5),
            [query_target("A", anomalous)],
            options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        make_panel(
            "stat",
            "Assets normal now",
            (6, 0, 6, 5),
            [query_target("A", f"{scored} - {anomalous}")],
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        make_panel(
            "bargauge",
            "Anomalous assets by group",
            (12, 0, 12, 5),
            [
                # A bar per series, named by its legend (a table's rows would reduce to one bar).
                query_target(
                    "A",
                    f"job_asset_group:dhag_asset_anomalous:sum{sel}",
                    "{{asset_group}}" + PLANT_LEGEND,
                    instant=True,
                )
                | {"format": "time_series"}
            ],
        ),
        # A plant-wide event (DhagManyAssetsAnomalous): how many assets are anomalous at once, of how
        # many scored, and how many make the plant's alert fire (dhag-recording.yml's common-cause rule:
        # at least 5, at least a fifth or 20, at least a tenth; for one plant, all groups).
        make_panel(
            "timeseries",
            "Assets anomalous at once, of those scored (the plant-wide alert fires at the dashed line)",
            (0, 5, 24, 8),
            [
                query_target("A", f"sum by (namespace) ({anomalous_series})", "anomalous" + PLANT_LEGEND),
                query_target("B", f"sum by (namespace) ({scored_series})", "scored" + PLANT_LEGEND),
                query_target(
                    "C", f"max by (namespace) ({_COMMON_CAUSE_AT})", "plant-wide alert at" + PLANT_LEGEND
                ),
            ],
            fieldConfig={
                "defaults": {"unit": "short"},
                "overrides": [
                    {
                        "matcher": {"id": "byRegexp", "options": "plant-wide alert at.*"},
                        "properties": [
                            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}
                        ],
                    }
                ],
            },
        ),
        make_panel(
            "state-timeline",
            "Alert timeline (1 = open alert)",
            (0, 13, 24, 9),
            [
                query_target(
                    "A", f"max by (namespace, asset) (dhag:asset_anomalous{sel})", "{{asset}}" + PLANT_LEGEND
                )
            ],
            options={"mergeValues": True, "showValue": "never"},
        ),
        make_panel(
            "timeseries",
            "Anomaly score per asset",
            (0, 22, 16, 10),
            [
                query_target(
                    "A",
                    f"max by (namespace, asset) (dhag:asset_score{sel}){running}",
                    "{{asset}}" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "max by (namespace, version) (dhag_model_threshold"
                    " * on (namespace, instance, job) group_left (version) (dhag_model_info == 1))",
                    "threshold {{version}}" + PLANT_LEGEND,
                ),
            ],
            **SCORE,
            description="The latest score of each asset against its model's threshold. " + _STOPPED_LEFT_OUT,
        ),
        make_panel(
            "table",
            "Top assets by anomaly score",
            (16, 22, 8, 10),
            [
                # Each plant's ten: plants score with models of their own thresholds, so one plant's
                # normal scores may lie above another's anomalous ones and fill the whole table.
                query_target(
                    "A",
                    "topk by (namespace) (10, "
                    f"max by (namespace, asset, asset_group) (dhag:asset_score{sel}){running})",
                    instant=True,
                )
            ],
            **SCORE,
            transformations=plant_table(hidden=("Time",)),
            description=f"The ten highest scores of each plant now. {_STOPPED_LEFT_OUT}",
        ),
        make_panel(
            "state-timeline",
            MACHINE_STATES,
            (0, 32, 24, 8),
            [query_target("A", f"max by (namespace, asset) ({state})", "{{asset}}" + PLANT_LEGEND)],
            options={"mergeValues": True, "showValue": "never"},
            fieldConfig={"defaults": {"unit": "short", "mappings": _STATE_MAPPINGS}, "overrides": []},
            description="A plant model's machines (dhag_asset_state): running; stopped, its speed and power "
            "both under a tenth of its usual (its readings are judged normal whatever they score); or "
            "warming up, running within alerts.warmup_s after its last reading at standstill (a reading "
            "that its cold bearing alone puts over the threshold is judged normal). A model on raw "
            "sensors knows no machine: its assets are not drawn.",
        ),
        # One row per open alert that names a suspect: the sensor to check first.
        _sensor_table(OPEN_ALERTS_SUSPECT, (0, 40, 8, 6), f"dhag:asset_suspect_sensor{sel}"),
        # One row per sensor whose asset's latest reading has it stuck (pipeline.frozen): a transmitter to
        # check, whichever sensor the asset's alert named first.
        _sensor_table(
            "Sensors stuck at one value now",
            (8, 40, 6, 6),
            f"dhag:asset_sensor_stuck{sel}",
            description="A plant model's raw sensors that have read exactly one value for "
            "alerts.frozen_sensor_factor times as many readings in a row, and as long, as they ever did "
            "running in the model's training history (dhag_asset_sensor_stuck): a transmitter stuck, or a "
            "gateway repeating its last value. Each such reading counts as over the threshold.",
        ),
        # An asset that stops sending leaves every other panel with its series (a daemon drops them after
        # alerts.quiet_s): named here, as DhagAssetSilent judges it, with its last score. A daemon that
        # cannot be scraped lists its assets too: nothing scores them.
        make_panel(
            "table",
            SILENT_ASSETS,
            (14, 40, 10, 6),
            [
                query_target(
                    "A",
                    f"max by (namespace, asset, asset_group) (last_over_time(dhag:asset_score{sel}[1d]))"
                    f" unless on (namespace, asset) dhag:asset_score{sel}",
                    instant=True,
                )
            ],
            **SCORE,
            transformations=plant_table(hidden=("Time",)),
        ),
        make_panel(
            "timeseries",
            "Alerts opened and resolved (per hour)",
            (0, 46, 14, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace) (increase(dhag_alerts_opened_total[1h]))",
                    "opened" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace, resolved_by) (increase(dhag_alerts_resolved_total[1h]))",
                    "resolved ({{resolved_by}})" + PLANT_LEGEND,
                ),
            ],
        ),
        # Open episodes passed from one daemon to another: carried over to a partition's next owner
        # (restart, partition move) or to an asset's new partition, handed over by the old owner (its
        # silence resolution dropped), and the reads of the alerts topic for them that failed (a fault
        # under way then opens again under a new alert_id).
        make_panel(
            "timeseries",
            "Open alerts passed between daemons (per hour)",
            (14, 46, 10, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace) (increase(dhag_alerts_carried_over_total[1h]))",
                    "carried over" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace) (increase(dhag_alerts_handed_over_total[1h]))",
                    "handed over" + PLANT_LEGEND,
                ),
                query_target(
                    "C",
                    'sum by (namespace) (increase(dhag_broker_failures_total{operation="carry_over"}[1h]))',
                    "alerts topic not read" + PLANT_LEGEND,
                ),
            ],
        ),
        make_panel(
            "state-timeline",
            "Beyond the training history (1 = the asset's latest reading is outside what it did in training)",
            (0, 53, 24, 8),
            [
                query_target(
                    "A",
                    f"max by (namespace, asset) (dhag:asset_outside_training_range{sel})",
                    "{{asset}}" + PLANT_LEGEND,
                )
            ],
            options={"mergeValues": True, "showValue": "never"},
        ),
        # A gateway whose clock is off dates its assets' readings, and so their alerts, off by as much.
        make_panel(
            "timeseries",
            "Clock offset per asset (reading ts minus the time Kafka took it; negative: behind)",
            (0, 61, 16, 8),
            [query_target("A", f"max by (namespace, asset) ({off})", "{{asset}}" + PLANT_LEGEND)],
            unit="s",
        ),
        make_panel(
            "table",
            "Assets whose clock is off by over a minute",
            (16, 61, 8, 8),
            [
                query_target(
                    "A", f"max by (namespace, asset, asset_group) ({off} < -60 or {off} > 60)", instant=True
                )
            ],
            unit="s",
            transformations=plant_table(hidden=("Time",)),
        ),
    ]
    groups = plant_filtered("label_values(dhag:asset_score, asset_group)")  # the plants' groups only
    variables = [plant_variable(), template_variable("asset_group", "Asset group", groups)]
    return render_dashboard(
        "dhag-plant-overview", "DHAG plant overview", panels, variables, _PLANT_ANNOTATIONS
    )
