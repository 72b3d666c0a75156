"""deploy/grafana's dashboards tell the plants apart: several plants (a Kubernetes namespace each) may
report to one Prometheus, and every query of every dashboard is filtered by the plant variable, whose
"All" also shows the series of a deployment without namespaces (compose)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DEPLOY, check_recording_rules

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
PLANT = 'namespace=~"$namespace"'
# What a query holds besides its selectors' names: strings, aggregation and matching label lists,
# ranges and offsets, keywords and number-like words.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE_OR_OFFSET = re.compile(r"\[[^\]]*\]|\boffset\s+\w+")
_NAME = re.compile(r"([a-zA-Z_:][\w:]*)\s*(\x00\d+\x00)?")
_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "Inf", "NaN"}


def unfiltered_selectors(expr: str) -> list[str]:
    """The selectors of PromQL ``expr`` (every metric or rule name it reads, not the functions) whose
    matchers lack the plant filter."""
    matchers: list[str] = []

    def hold(found: re.Match[str]) -> str:  # a selector's braces, kept aside with the strings in them
        matchers.append(found.group(0))
        return f"\x00{len(matchers) - 1}\x00"

    bare = re.sub(r"\{[^}]*\}", hold, expr)
    bare = _RANGE_OR_OFFSET.sub(" ", _LABEL_LIST.sub(" ", _STRING.sub('""', bare)))
    missing = []
    for found in _NAME.finditer(bare):
        name, braces = found.group(1), found.group(2)
        if name in _KEYWORDS or bare[found.end() :].lstrip().startswith("("):
            continue  # an operator, or a function or aggregation (its parenthesis follows)
        held = matchers[int(braces.strip("\x00"))] if braces else "{}"
        if PLANT not in held:
            missing.append(name + held)
    return missing


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def _queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every query of ``dashboard``: its panels' targets and its annotations, where -> PromQL."""
    queries = {
        f"{panel['title']} / {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }
    for annotation in dashboard["annotations"]["list"]:
        queries[f"annotation {annotation['name']}"] = annotation["expr"]
    return queries


def test_the_check_finds_a_selector_without_the_plant_filter() -> None:
    plant = f"{{{PLANT}}}"
    filtered = (
        f'max by (asset) (dhag:asset_score{{asset_group=~"$asset_group", {PLANT}}})'
        f" / on (instance, job) group_left (version) sum(rate(dhag_x_total{plant}[5m] offset 1h))"
        f' unless count by (version) (up{{job="a", {PLANT}}} == 1) and ALERTS{plant}'
    )
    assert unfiltered_selectors(filtered) == []
    assert unfiltered_selectors('sum(up{job="dhag-pipeline"})') == ['up{job="dhag-pipeline"}']
    sums = f"sum(job:dhag_x:sum{plant}) - sum(job:dhag_x:count)"
    assert unfiltered_selectors(sums) == ["job:dhag_x:count{}"]
    assert unfiltered_selectors("histogram_quantile(0.5, sum by (le) (rate(dhag_y_bucket[5m])))") == [
        "dhag_y_bucket{}"
    ]
    # Another plant's literal name is no filter by the variable.
    assert unfiltered_selectors('kube_x{namespace="plant-a"}') == ['kube_x{namespace="plant-a"}']


def test_every_dashboard_has_the_plant_variable() -> None:
    for dashboard in _dashboards():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        plant = variables["namespace"]
        # Several plants at once, or all of them: "All" is every series, not the values listed at load.
        assert plant["type"] == "query" and plant["multi"] and plant["includeAll"], dashboard["uid"]
        assert plant["allValue"] == ".*" and plant["current"]["value"] == "$__all", dashboard["uid"]
        assert re.fullmatch(r"label_values\(dhag_\w+, namespace\)", plant["query"]["query"]), dashboard["uid"]
        # The first filter (after the data source): the others' values (asset groups) are the chosen
        # plants' only.
        filters = [v for v in dashboard["templating"]["list"] if v["type"] != "datasource"]
        assert filters[0]["name"] == "namespace"
        for other in filters[1:]:
            assert PLANT in other["query"]["query"], (dashboard["uid"], other["name"])


def test_every_query_of_every_dashboard_is_filtered_by_the_plant() -> None:
    checked = 0
    for dashboard in _dashboards():
        for where, expr in _queries(dashboard).items():
            assert unfiltered_selectors(expr) == [], f"{dashboard['uid']} / {where}: {expr}"
            checked += 1
    assert checked >= 40


def _plant_case(expr: str, plant: str, value: int) -> dict[str, Any]:
    expr = expr.replace("$namespace", plant).replace("$asset_group", ".*")
    return {"expr": expr, "eval_time": "2m", "exp_samples": [{"labels": "{}", "value": value}]}


@pytest.mark.parametrize(
    ("plant", "anomalous", "normal"),
    [
        # Compose: no namespace on any series; "All" (.*) shows them.
        (".*", 2, 2),
        # Kubernetes: one plant; two, as Grafana writes a multi-value selection for Prometheus.
        ("plant-a", 1, 1),
        ("(plant-a|plant-b)", 1, 2),
    ],
)
def test_the_plant_filter_shows_the_chosen_plants_and_all_shows_series_without_one(
    tmp_path: Path, plant: str, anomalous: int, normal: int
) -> None:
    (overview,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    stats = {p["title"]: p["targets"][0]["expr"] for p in overview["panels"] if p["type"] == "stat"}

    def series(labels: str, asset: str, value: int) -> dict[str, str]:
        name = f'dhag_asset_anomalous{{job="dhag-pipeline", {labels}asset="{asset}"}}'
        return {"series": name, "values": f"{value}x3"}

    if plant == ".*":
        inputs = [series('instance="d1:9108", ', "pump-01", 1), series('instance="d1:9108", ', "fan-01", 0)]
        inputs += [series('instance="d2:9108", ', "pump-02", 1), series('instance="d2:9108", ', "fan-02", 0)]
    else:
        inputs = [
            series('namespace="plant-a", instance="a:9108", ', "pump-01", 1),
            series('namespace="plant-a", instance="a:9108", ', "fan-01", 0),
            series('namespace="plant-b", instance="b:9108", ', "fan-01", 0),
            series('namespace="plant-c", instance="c:9108", ', "pump-01", 1),
        ]
    check_recording_rules(
        tmp_path / "plants-test.yml",
        inputs,
        [
            _plant_case(stats["Assets anomalous now"], plant, anomalous),
            _plant_case(stats["Assets normal now"], plant, normal),
        ],
    )
