"""The Grafana dashboards' building blocks (a query, a panel, a variable, a dashboard as JSON);
the plant overview is :mod:`dashboard_plant`, the pipeline health dashboard :mod:`dashboard_health`.

:mod:`render` writes them to ``grafana/dashboards/``; both read the Prometheus datasource of
``grafana/provisioning/datasources`` by its uid.
"""

from __future__ import annotations

import json
import re
from typing import Any

# The Prometheus data source that grafana/provisioning gives compose's Grafana, and that Grafana's alert
# rules (render.py) name: a rule needs a data source of a fixed uid.
DATASOURCE_UID = "dhag-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
# What the dashboards read: their data-source variable, which starts at that uid and, in a Grafana
# without it (kube-prometheus-stack's names its Prometheus `prometheus`), at that Grafana's own
# Prometheus, so that the dashboards show data wherever they are loaded.
PANEL_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
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
# The unit of a count of records per second: Grafana's own units of a count per second name what they
# count (requests, reads, writes, operations), never a record; a custom suffix says it.
RECORDS_PER_SECOND = "suffix: records/s"
# How an anomaly score, or the threshold it is compared with, is drawn: a plain number in [0, 1] to
# three decimals (0.934 against 0.912), never in percent, which would read it as a probability or a
# share of something ("93.4%").
SCORE = {"unit": "none", "decimals": 3}
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
        "datasource": PANEL_DATASOURCE,
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
    decimals = {"decimals": extra.pop("decimals")} if "decimals" in extra else {}
    panel = {
        "type": kind,
        "title": title,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": PANEL_DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit} | decimals, "overrides": extra.pop("overrides", [])},
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
        "templating": {"list": [datasource_variable(), *variables]},
        "annotations": {"list": annotations or []},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def datasource_variable() -> dict[str, Any]:
    """The dashboards' Prometheus: the provisioned ``dhag-prometheus`` where the Grafana has it (compose),
    else the Grafana's own Prometheus data source (Grafana picks one of the type when the current one
    is missing); a viewer may choose another."""
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"text": "Prometheus", "value": DATASOURCE_UID},
        "includeAll": False,
        "multi": False,
        "refresh": 1,
        "regex": "",
        "hide": 0,
    }


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
        "datasource": PANEL_DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",  # "All" is every series, not only the values listed when the page loaded
        "multi": True,
        "current": {"text": "All", "value": "$__all"},
    }
