"""deploy/grafana: provisioning files follow Grafana's schema fields, dashboards read their data-source
variable (the provisioned data source where Grafana has it), Grafana-managed rules match the Prometheus
alerts (on the fixed data source), and every PromQL query is valid and names real metrics."""

from __future__ import annotations

import json
import re
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

from deploy_support import (
    DEPLOY,
    alert_rules,
    check_recording_rules,
    load_yaml,
    pipeline_series,
    promtool_syntax_errors,
    recorded_names,
    run,
    unknown_references,
)

GRAFANA = DEPLOY / "grafana"
PROVISIONING = GRAFANA / "provisioning"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UID = "dhag-prometheus"
# What every panel, query, filter and annotation of the dashboards reads: their data-source variable.
PANEL_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's built-in variables, replaced by what they typically resolve to so that promtool can parse.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def _grafana_rules() -> list[dict[str, Any]]:
    provisioned = load_yaml(PROVISIONING / "alerting" / "dhag-rules.yaml")
    assert provisioned["apiVersion"] == 1
    return [rule for group in provisioned["groups"] for rule in group["rules"]]


def _as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _queries() -> dict[str, str]:
    """Every PromQL query of the dashboards and the Grafana rules: where -> expression."""
    queries = {}
    for dashboard in _dashboards():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                queries[f"{dashboard['uid']} / {panel['title']} / {target['refId']}"] = _as_promql(
                    target["expr"]
                )
        for annotation in dashboard["annotations"]["list"]:
            if "expr" in annotation:
                queries[f"{dashboard['uid']} / annotation {annotation['name']}"] = _as_promql(
                    annotation["expr"]
                )
    for rule in _grafana_rules():
        for query in rule["data"]:
            if query["datasourceUid"] != "__expr__":
                queries[f"grafana rule {rule['title']} / {query['refId']}"] = query["model"]["expr"]
    return queries


def test_rendered_files_are_up_to_date() -> None:
    result = run([sys.executable, str(DEPLOY / "render.py"), "--check"])
    assert result.returncode == 0, result.stderr


def test_datasource_is_provisioned_with_the_fixed_uid() -> None:
    provisioned = load_yaml(PROVISIONING / "datasources" / "prometheus.yaml")
    assert provisioned["apiVersion"] == 1
    (source,) = provisioned["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    assert source["access"] == "proxy" and source["url"].startswith("http")


def test_dashboard_provider_reads_files() -> None:
    provisioned = load_yaml(PROVISIONING / "dashboards" / "dhag.yaml")
    assert provisioned["apiVersion"] == 1
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    assert {"name", "orgId", "folder"} <= set(provider)


def _filters(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """A dashboard's query variables (its filters), in order: every variable but its data source."""
    return [v for v in dashboard["templating"]["list"] if v["type"] != "datasource"]


def test_the_dashboards_read_their_prometheus_through_a_data_source_variable() -> None:
    # Before, every panel named the data source of uid dhag-prometheus, which only compose's Grafana is
    # provisioned with: loaded into another (kube-prometheus-stack's Prometheus has uid prometheus),
    # every panel said "Datasource dhag-prometheus was not found" and showed nothing.
    for dashboard in _dashboards():
        first, *others = dashboard["templating"]["list"]  # first: the filters' queries read it
        assert first["type"] == "datasource" and first["name"] == "datasource", dashboard["uid"]
        assert first["query"] == "prometheus" and not first["multi"] and not first["includeAll"]
        # compose's provisioned Prometheus where the Grafana has it; else Grafana picks its own.
        assert first["current"]["value"] == DATASOURCE_UID
        assert all(v["type"] != "datasource" for v in others)
        text = json.dumps(dashboard)
        assert DATASOURCE_UID not in text.replace(json.dumps(first), ""), dashboard["uid"]


def test_dashboards_use_the_datasource_variable_and_have_unique_ids() -> None:
    assert {d["uid"] for d in _dashboards()} == {"dhag-plant-overview", "dhag-pipeline-health"}
    for path, dashboard in zip(DASHBOARDS, _dashboards(), strict=True):
        assert "${DS_" not in path.read_text(), path.name
        assert dashboard["title"] and dashboard["schemaVersion"] >= 36
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in dashboard["panels"]:
            assert {"type", "title", "gridPos", "targets"} <= set(panel), panel.get("title")
            assert (
                set(panel["gridPos"]) == {"x", "y", "w", "h"}
                and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            )
            assert panel["datasource"] == PANEL_DATASOURCE
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == PANEL_DATASOURCE and target["expr"].strip()
        for variable in _filters(dashboard):
            assert variable["datasource"] == PANEL_DATASOURCE


def test_no_two_panels_of_a_dashboard_overlap() -> None:
    # Grafana moves one of two panels given the same place as it loads them: the rows come out of order.
    for path in DASHBOARDS:
        panels = json.loads(path.read_text())["panels"]
        for a, b in combinations(panels, 2):
            (ax, ay, aw, ah), (bx, by, bw, bh) = ([p["gridPos"][k] for k in "xywh"] for p in (a, b))
            apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
            assert apart, f"{path.name}: {a['title']!r} overlaps {b['title']!r}"


def test_the_plant_overview_shows_what_operators_need() -> None:
    (plant,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    kinds = {panel["type"] for panel in plant["panels"]}
    assert {"state-timeline", "timeseries", "table", "stat"} <= kinds
    exprs = " ".join(t["expr"] for panel in plant["panels"] for t in panel["targets"])
    assert "dhag:asset_score" in exprs and "dhag:asset_anomalous" in exprs and "topk" in exprs


def test_grafana_rules_follow_the_provisioning_schema() -> None:
    provisioned = load_yaml(PROVISIONING / "alerting" / "dhag-rules.yaml")
    for group in provisioned["groups"]:
        assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    uids = set()
    for rule in _grafana_rules():
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", rule["uid"]) and rule["uid"] not in uids
        uids.add(rule["uid"])
        assert {"title", "condition", "data", "noDataState", "execErrState", "for"} <= set(rule)
        assert rule["noDataState"] in {"OK", "NoData", "Alerting", "KeepLast"}
        assert rule["execErrState"] in {"OK", "Error", "Alerting", "KeepLast"}
        refs = [query["refId"] for query in rule["data"]]
        assert rule["condition"] in refs and len(refs) == len(set(refs))
        for query in rule["data"]:
            assert {"refId", "datasourceUid", "model"} <= set(query)
            if query["datasourceUid"] == "__expr__":
                # The condition reads only queries of the same rule.
                assert set(re.findall(r"\$([A-Z])", query["model"]["expression"])) <= set(refs)
            else:
                assert query["datasourceUid"] == DATASOURCE_UID
                assert set(query["relativeTimeRange"]) == {"from", "to"}


def test_grafana_rules_are_equivalent_to_the_prometheus_alerts() -> None:
    grafana = {rule["title"]: rule for rule in _grafana_rules()}
    prometheus = {rule["alert"]: rule for rule in alert_rules()}
    assert set(grafana) == set(prometheus)
    for name, rule in prometheus.items():
        twin = grafana[name]
        (query,) = [q for q in twin["data"] if q["datasourceUid"] != "__expr__"]
        assert query["model"]["expr"] == rule["expr"], name
        assert twin["for"] == rule.get("for", "0s") and twin["labels"] == rule["labels"], name
        assert set(twin["annotations"]) == set(rule["annotations"]), name
        for key, text in rule["annotations"].items():
            # Less the parts that read other series with `query`, which Grafana's templates lack.
            text = PROMETHEUS_QUERY.sub("", text)
            assert twin["annotations"][key] == text.replace("$value", "$values.A.Value"), (name, key)


# `{{ with ... | query }}...{{ end }}` or `{{ range ... | query }}...{{ end }}` (a `sortByLabel` after
# `query` allowed) and the space after it (no `}}` before `| query`, no nested end).
PROMETHEUS_QUERY = re.compile(
    r"\{\{ (?:with|range) (?:(?!\}\}).)*\| query(?: \| sortByLabel \"\w+\")? \}\}.*?\{\{ end \}\} ?",
    re.DOTALL,
)


def test_grafana_annotations_use_no_prometheus_only_template_function() -> None:
    only_prometheus = re.compile(r"\b(query|first|label|sortByLabel|strvalue)\b(?=[^{}]*\}\})")
    for rule in _grafana_rules():
        for key, text in rule["annotations"].items():
            actions = " ".join(re.findall(r"\{\{.*?\}\}", text, re.DOTALL))
            assert not only_prometheus.search(actions), (rule["title"], key, actions)
    # The Prometheus alert reads the open alert's suspect sensor; Grafana's says where to find it.
    (anomalous,) = [r for r in alert_rules() if r["alert"] == "DhagAssetAnomalous"]
    assert "dhag_asset_suspect_sensor" in anomalous["annotations"]["summary"]
    (twin,) = [r for r in _grafana_rules() if r["title"] == "DhagAssetAnomalous"]
    assert "suspect sensor of each open alert" in twin["annotations"]["description"]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    queries = _queries()
    assert len(queries) >= 30
    errors = promtool_syntax_errors(queries, tmp_path)
    assert not errors, errors


def test_the_syntax_check_rejects_a_broken_query(tmp_path: Path) -> None:
    assert promtool_syntax_errors({"ok": "sum(up)", "broken": "sum(rate(up[5m])"}, tmp_path)


def test_every_query_names_exported_metrics_and_labels() -> None:
    series, recorded = pipeline_series(), recorded_names()
    for where, expr in _queries().items():
        problems = unknown_references(expr, series, recorded)
        assert not problems, f"{where}: {problems}"
    for dashboard in _dashboards():
        for variable in _filters(dashboard):
            query = variable["query"]["query"]
            metric, label = re.fullmatch(r"label_values\(([\w:]+)(?:\{[^}]*\})?, (\w+)\)", query).groups()
            assert metric in recorded or metric in series, metric
            assert label in ("asset_group", "namespace") or label in series.get(metric, set()), label


def test_all_in_a_variable_means_every_series_not_the_values_listed_at_load() -> None:
    # Without allValue, "All" became the values known when the page loaded (pump|fan): series with a
    # group seen later, or with none, fell out of every panel.
    for dashboard in _dashboards():
        for variable in _filters(dashboard):
            assert variable.get("includeAll") and variable.get("allValue") == ".*", variable["name"]


def test_the_plant_overview_lists_each_open_alerts_suspect_sensor() -> None:
    (plant,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    (panel,) = [p for p in plant["panels"] if p["title"] == "Open alerts: suspect sensor"]
    (target,) = panel["targets"]
    assert panel["type"] == "table" and target.get("instant") and target["format"] == "table"
    assert re.fullmatch(
        r"max by \(namespace, asset, sensor\) \(dhag:asset_suspect_sensor"
        r"\{asset_group=~\"\$asset_group\", namespace=~\"\$namespace\"\}\)",
        target["expr"],
    )


def test_the_plant_overview_shows_how_many_assets_are_anomalous_at_once_and_model_promotions() -> None:
    # A plant-wide event (DhagManyAssetsAnomalous): how many assets, against how many scored and the
    # count that fires the plant's alert; and whether a model was promoted just before it began.
    (plant,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    (panel,) = [p for p in plant["panels"] if p["title"].startswith("Assets anomalous at once")]
    exprs = [target["expr"] for target in panel["targets"]]
    assert any("job_asset_group:dhag_asset_anomalous:sum" in e for e in exprs)
    assert any("job_asset_group:dhag_asset_anomalous:count" in e for e in exprs)
    assert any("job:dhag_asset_anomalous:count" in e and "clamp" in e for e in exprs)
    annotations = {a["name"]: a for a in plant["annotations"]["list"]}
    assert "dhag_model_info" in annotations["Model promoted"]["expr"]
    assert 'alertname="DhagManyAssetsAnomalous"' in annotations["Many assets anomalous"]["expr"]
    for annotation in annotations.values():
        assert annotation["datasource"] == PANEL_DATASOURCE and annotation["enable"]


def test_the_plant_overview_counts_an_asset_on_two_daemons_once(tmp_path: Path) -> None:
    # While its partition moves from d1 to d2, both daemons export pump-01 (anomalous) and pump-02 for a
    # scrape or two: the stats "Assets anomalous now" and "Assets normal now" count each of them once.
    (plant,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    stats = {p["title"]: p["targets"][0]["expr"] for p in plant["panels"] if p["type"] == "stat"}
    anomalous, normal = stats["Assets anomalous now"], stats["Assets normal now"]

    def series(instance: str, asset: str, values: str) -> dict[str, str]:
        labels = f'job="dhag-pipeline", instance="{instance}:9108", asset="{asset}"'
        return {"series": f"dhag_asset_anomalous{{{labels}}}", "values": values}

    def case(expr: str, group: str, value: int) -> dict[str, Any]:
        expr = expr.replace("$asset_group", group).replace("$namespace", ".*")
        return {"expr": expr, "eval_time": "3m", "exp_samples": [{"labels": "{}", "value": value}]}

    check_recording_rules(
        tmp_path / "stats-test.yml",
        [
            series("d1", "pump-01", "1 1 1 1 stale"),
            series("d2", "pump-01", "_ _ _ 1 1"),
            series("d1", "pump-02", "0 0 0 0 stale"),
            series("d2", "pump-02", "_ _ _ 0 0"),
            series("d1", "fan-01", "0 0 0 0 0"),
        ],
        [
            # The daemons' raw series hold pump-01 twice.
            case("sum(dhag:asset_anomalous)", ".*", 2),
            case(anomalous, ".*", 1),
            case(normal, ".*", 2),
            case(anomalous, "pump", 1),
            case(normal, "pump", 1),
            case(normal, "fan", 1),
        ],
    )


def _panel_exprs(uid: str) -> dict[str, list[str]]:
    (dashboard,) = [d for d in _dashboards() if d["uid"] == uid]
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}


def _neighbours(uid: str, title: str) -> list[str]:
    """The titles of the panels on the same row as ``title`` (same y) in dashboard ``uid``."""
    (dashboard,) = [d for d in _dashboards() if d["uid"] == uid]
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    return [p["title"] for p in dashboard["panels"] if p["gridPos"]["y"] == panel["gridPos"]["y"]]


def test_the_retraining_row_shows_answers_sent_again_and_changed_next_to_labels_received() -> None:
    # A console that submits twice, or an operator who changes an answer, shows beside the labels
    # received: the repeats are left out of those, the changed answers replace an earlier one.
    exprs = _panel_exprs("dhag-pipeline-health")
    (title,) = [t for t, e in exprs.items() if any("dhag_labels_repeated_total" in x for x in e)]
    changed = 'sum by (namespace, label) (increase(dhag_labels_changed_total{namespace=~"$namespace"}[1h]))'
    assert any(changed in x for x in exprs[title])
    assert "Labels received (per hour)" in _neighbours("dhag-pipeline-health", title)


def test_the_plant_overview_shows_alerts_handed_over_and_failed_reads_with_those_carried_over() -> None:
    exprs = _panel_exprs("dhag-plant-overview")
    (title,) = [t for t, e in exprs.items() if any("dhag_alerts_carried_over_total" in x for x in e)]
    assert any("dhag_alerts_handed_over_total" in x for x in exprs[title])
    assert any('dhag_broker_failures_total{operation="carry_over", namespace' in x for x in exprs[title])


def test_the_pipeline_health_shows_broker_failures_by_operation_beside_the_replicas() -> None:
    # Which broker operation fails (connect, poll, produce, join, carry_over, ...) tells
    # DhagKafkaUnreachable and DhagConsumerReplaced apart from the brokers refusing one topic or read;
    # the failures that were Kafka refusing the daemon (credentials, ACLs) beside them, by how; the
    # retrainer's failures and refusals (the same counters) apart from the daemons', by job.
    exprs = _panel_exprs("dhag-pipeline-health")
    title = "Broker failures by operation (per hour)"
    assert exprs[title] == [
        "sum by (namespace, job, operation) "
        '(increase(dhag_broker_failures_total{namespace=~"$namespace"}[1h]))',
        "sum by (namespace, job, operation, kind) "
        '(increase(dhag_broker_refusals_total{namespace=~"$namespace"}[1h]))',
    ]
    (dashboard,) = [d for d in _dashboards() if d["uid"] == "dhag-pipeline-health"]
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    assert (
        panel["type"] == "timeseries"
        and panel["targets"][0]["legendFormat"] == "{{operation}} ({{job}}) {{namespace}}"
    )
    assert panel["targets"][1]["legendFormat"] == "{{operation}} refused ({{kind}}, {{job}}) {{namespace}}"
    assert "Partitions and replicas" in _neighbours("dhag-pipeline-health", title)


def test_the_retraining_runs_panel_shows_the_steps_that_failed_after_a_decision() -> None:
    # A registry that cannot be pruned grows at every run that still counts as promoted or rejected:
    # the steps that failed after the decision (DhagRetrainingHousekeepingFailing) show beside them.
    exprs = _panel_exprs("dhag-pipeline-health")
    (title,) = [t for t, e in exprs.items() if any("dhag_retrain_runs_total" in x for x in e)]
    plant = '{namespace=~"$namespace"}'
    step_failures = (
        f"sum by (namespace, step) (increase(dhag_retrain_after_decision_failures_total{plant}[1d]))"
    )
    runs = f"sum by (namespace, outcome) (increase(dhag_retrain_runs_total{plant}[1d]))"
    assert exprs[title] == [runs, step_failures]


def test_the_pipeline_health_counts_misdated_and_unreferenced_readings_beside_the_beyond_range() -> None:
    # The readings scored on a wrong date or against the fleet's median reference, over the five
    # minutes DhagReadingsMisdated and DhagReadingsUnreferenced judge, beside the readings the model
    # judges beyond its training range: what the runbooks send the operator to.
    exprs = _panel_exprs("dhag-pipeline-health")
    (title,) = [t for t, e in exprs.items() if any("dhag_readings_misdated_total" in x for x in e)]
    plant = '{namespace=~"$namespace"}'
    assert exprs[title] == [
        f"sum by (namespace) (increase(dhag_readings_misdated_total{plant}[5m]))",
        f"sum by (namespace) (increase(dhag_readings_unreferenced_total{plant}[5m]))",
    ]
    assert title.startswith("Readings misdated, and of an asset without a reference")
    beyond = "Readings beyond the training range (share of scored; alert above 10 % for 30 min)"
    assert beyond in _neighbours("dhag-pipeline-health", title)
