"""The Grafana dashboards' building blocks (a query, a panel, a variable, a dashboard as JSON) and the
plant overview built from them; the pipeline health dashboard is :mod:`dashboard_health`.

:mod:`render` writes them to ``grafana/dashboards/``; both read the Prometheus datasource of
``grafana/provisioning/datasources`` by its uid.
"""

from __future__ import annotations

import json
import re
from typing import Any

DATASOURCE_UID = "dhag-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
# The plant overview's table of each open alert's first suspect sensor (empty while no alert is open).
OPEN_ALERTS_SUSPECT = "Open alerts: suspect sensor"
# The plant filter: several plants (a Kubernetes namespace each) may report to one Prometheus, so every
# selector of every query carries the dashboards' namespace variable. Its "All" is the regex ".*"
# (Grafana writes a custom all value in unescaped), which matches a series without the label too: under
# compose no series has a namespace, and they all show.
PLANT_MATCHER = 'namespace=~"$namespace"'
# What a legend adds for the plant of a series. Every aggregation and match keeps the namespace, so that
# two plants' assets (or versions, topics, daemons) of one name stay apart; Grafana writes a label the
# series lacks as nothing, so under compose the legend only ends in a space.
PLANT_LEGEND = " {{namespace}}"
# What a legend names a daemon's (or the retrainer's) series by: the label `daemon` of :func:`by_daemon`.
DAEMON_LEGEND = "{{daemon}}"
# A selector of the dashboards' queries: a daemon's or retrainer's series, a recording rule (a name
# with a colon), `up` or `ALERTS`, with its matchers if it has any (none of them is a function name).
_SELECTOR = re.compile(r"\b(dhag_\w+|[a-zA-Z_]\w*(?::\w+)+|up|ALERTS)\b(?!\s*\()(\{[^}]*\})?")


def plant_filtered(expr: str) -> str:
    """``expr`` with the plant filter added to the matchers of each of its selectors.

    >>> plant_filtered('sum(up{job="x"}) / count(dhag:asset_score)')
    'sum(up{job="x", namespace=~"$namespace"}) / count(dhag:asset_score{namespace=~"$namespace"})'
    """

    def filtered(selector: re.Match[str]) -> str:
        matchers = (selector.group(2) or "{}")[1:-1].strip()
        return f"{selector.group(1)}{{{matchers + ', ' if matchers else ''}{PLANT_MATCHER}}}"

    return _SELECTOR.sub(filtered, expr)


def by_daemon(expr: str) -> str:
    """``expr`` with a label ``daemon`` naming each series' process: its pod on Kubernetes, where the
    address (``instance``) is a pod IP, or its address where the series has no pod (compose)."""
    named = f'label_replace({expr}, "daemon", "$1", "instance", "(.*)")'
    return f'label_replace({named}, "daemon", "$1", "pod", "(.+)")'


def query_target(ref: str, expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    """A Prometheus query of a panel, ``expr`` filtered by the plant variable (:func:`plant_filtered`)."""
    target = {
        "refId": ref,
        "datasource": DATASOURCE,
        "expr": plant_filtered(expr),
        "legendFormat": legend or "__auto",
    }
    if instant:
        target |= {"instant": True, "range": False, "format": "table"}
    return target


def plant_table(*, hidden: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A table panel's transformations: its plant (the namespace label) first, as column "Plant"
    (absent under compose), and the ``hidden`` columns left out."""
    options = {
        "excludeByName": dict.fromkeys(hidden, True),
        "indexByName": {"namespace": 0},
        "renameByName": {"namespace": "Plant"},
    }
    return [{"id": "organize", "options": options}]


def make_panel(
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
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": extra.pop("overrides", [])},
        "options": extra.pop("options", {}),
    }
    return panel | extra


def own_axis(ref: str, unit: str) -> dict[str, Any]:
    """A panel's override: the series of its query ``ref`` in ``unit``, on an axis of their own (right),
    where the panel's unit is another's (a count per second beside shares)."""
    properties = [{"id": "unit", "value": unit}, {"id": "custom.axisPlacement", "value": "right"}]
    return {"matcher": {"id": "byFrameRefID", "options": ref}, "properties": properties}


def render_dashboard(
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


def plant_variable() -> dict[str, Any]:
    """The dashboards' plant filter: the namespaces of the series every daemon and retrainer exports
    from its start (none under compose, where "All" still shows every series)."""
    return template_variable(
        "namespace", "Plant (namespace)", "label_values(dhag_broker_failures_total, namespace)"
    )


def template_variable(name: str, label: str, query: str) -> dict[str, Any]:
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
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": plant_filtered('ALERTS{alertname="DhagManyAssetsAnomalous", alertstate="firing"}'),
        "step": "1m",
        "titleFormat": "DhagManyAssetsAnomalous {{asset_group}}",
        "tagKeys": "namespace",
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
                    "A", f"max by (namespace, asset) (dhag:asset_score{sel})", "{{asset}}" + PLANT_LEGEND
                ),
                query_target(
                    "B",
                    "max by (namespace, version) (dhag_model_threshold"
                    " * on (namespace, instance, job) group_left (version) (dhag_model_info == 1))",
                    "threshold {{version}}" + PLANT_LEGEND,
                ),
            ],
            unit="percentunit",
        ),
        make_panel(
            "table",
            "Top assets by anomaly score",
            (16, 22, 8, 10),
            [
                query_target(
                    "A",
                    f"topk(10, max by (namespace, asset, asset_group) (dhag:asset_score{sel}))",
                    instant=True,
                )
            ],
            unit="percentunit",
            transformations=plant_table(hidden=("Time",)),
        ),
        make_panel(
            "table",
            OPEN_ALERTS_SUSPECT,
            (0, 32, 24, 6),
            [
                query_target(
                    "A", f"max by (namespace, asset, sensor) (dhag:asset_suspect_sensor{sel})", instant=True
                )
            ],
            # One row per open alert that names a suspect: the sensor to check first.
            transformations=plant_table(hidden=("Time", "Value")),
        ),
        make_panel(
            "timeseries",
            "Alerts opened and resolved (per hour)",
            (0, 38, 14, 7),
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
            (14, 38, 10, 7),
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
            (0, 45, 24, 8),
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
            (0, 53, 16, 8),
            [query_target("A", f"max by (namespace, asset) ({off})", "{{asset}}" + PLANT_LEGEND)],
            unit="s",
        ),
        make_panel(
            "table",
            "Assets whose clock is off by over a minute",
            (16, 53, 8, 8),
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
