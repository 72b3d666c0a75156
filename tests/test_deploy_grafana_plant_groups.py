"""deploy/grafana's dashboards keep the plants apart when several are selected: every aggregation and
every vector match of a panel query or annotation keeps the namespace, so that two plants' assets,
versions, topics or daemons of the same name are never merged or matched with each other, and every
legend of such a series names its plant. The few aggregations over all selected plants are listed here
with the reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from deploy_support import DEPLOY, check_recording_rules

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
_AGGREGATION = re.compile(
    r"\b(sum|min|max|avg|count|group|stddev|stdvar|quantile|count_values|topk|bottomk)\s*"
    r"(?:(by|without)\s*\(([^)]*)\)\s*)?\("
)
_MATCHING = re.compile(r"\b(on|ignoring)\s*\(([^)]*)\)")
# A stat shows the chosen plants' total where one adds up (assets, daemons, labels waiting) or their
# worst (a broker unreachable anywhere); choosing one plant shows its own. Per-plant values (a model
# version, its threshold, the time since a retraining) show one value per plant instead.
ACROSS_PLANTS = {
    "dhag-plant-overview / Assets anomalous now / A": "a stat: the chosen plants' anomalous assets",
    "dhag-plant-overview / Assets normal now / A": "a stat: the chosen plants' normal assets",
    "dhag-pipeline-health / Daemons up / A": "a stat: the chosen plants' daemons up",
    "dhag-pipeline-health / DLQ cap tripped (daemons paused) / A": (
        "a stat: the chosen plants' daemons paused"
    ),
    "dhag-pipeline-health / Broker connected / A": "a stat: 0 while any chosen plant's daemon is cut off",
    "dhag-pipeline-health / Retrainer up / A": "a stat: the chosen plants' retrainers up",
    "dhag-pipeline-health / Labels waiting for their alert / A": "a stat: the chosen plants' labels waiting",
    # A heatmap reads one series per bucket bound: the chosen plants' scores land in the same cells.
    "dhag-pipeline-health / Anomaly-score distribution (a lasting shift is what DhagDriftDetected "
    "reports) / A": "a heatmap of the chosen plants' scores together",
}


def plant_blind(expr: str) -> list[str]:
    """The aggregations of PromQL ``expr`` that merge the plants (no ``by`` naming ``namespace``, or a
    ``without`` naming it) and its vector matches that match across them (``on`` without ``namespace``,
    ``ignoring`` with it). Aggregations are written with their clause first, as the dashboards do."""
    found = []
    for match in _AGGREGATION.finditer(expr):
        clause, labels = match.group(2), {label.strip() for label in (match.group(3) or "").split(",")}
        if clause is None or (clause == "by") != ("namespace" in labels):
            found.append(match.group(0))
    for match in _MATCHING.finditer(expr):
        labels = {label.strip() for label in match.group(2).split(",")}
        if (match.group(1) == "on") != ("namespace" in labels):
            found.append(match.group(0))
    return found


def _dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def _targets() -> dict[str, dict[str, Any]]:
    """Every panel query and annotation of the dashboards: where -> its target (expr, legend)."""
    targets = {}
    for dashboard in _dashboards():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                targets[f"{dashboard['uid']} / {panel['title']} / {target['refId']}"] = target
        for annotation in dashboard["annotations"]["list"]:
            targets[f"{dashboard['uid']} / annotation {annotation['name']}"] = annotation
    return targets


def test_the_check_finds_aggregations_and_matches_that_merge_the_plants() -> None:
    assert plant_blind("max by (namespace, asset) (x) * on (namespace, job) group_left (version) y") == []
    assert plant_blind("sum without (instance) (x) / ignoring (outcome) sum by (namespace) (y)") == []
    assert plant_blind("max by (asset) (x)") == ["max by (asset) ("]
    assert plant_blind("sum(rate(x[5m]))") == ["sum("]
    assert plant_blind("count without (namespace, asset) (x)") == ["count without (namespace, asset) ("]
    assert plant_blind("topk(10, max by (namespace, asset) (x))") == ["topk("]
    assert plant_blind("topk by (namespace) (10, max by (namespace, asset) (x))") == []
    assert plant_blind("x * on (instance, job) group_left (version) y") == ["on (instance, job)"]
    assert plant_blind("x unless ignoring (namespace) y") == ["ignoring (namespace)"]
    # A function whose name ends like an aggregation is none.
    assert plant_blind("max_over_time(x[7d]) > 0 and histogram_quantile(0.5, y)") == []


def test_every_aggregation_and_match_of_the_dashboards_keeps_the_plants_apart() -> None:
    targets = _targets()
    blind = {where: plant_blind(t["expr"]) for where, t in targets.items() if plant_blind(t["expr"])}
    assert set(blind) == set(ACROSS_PLANTS), {w: blind.get(w) for w in set(blind) ^ set(ACROSS_PLANTS)}


def test_every_legend_of_a_plants_series_names_the_plant() -> None:
    # Grafana writes a label the series lacks as nothing: under compose (no namespace) the legend ends
    # in a space, and with plants "pump-01 plant-a" tells two plants' pump-01 apart. Tables show the
    # label as a column; annotations tag it (an annotation title would read the missing label's name).
    for where, target in _targets().items():
        if where in ACROSS_PLANTS or target.get("format") == "table":
            continue
        if "annotation" in where:
            assert target.get("tagKeys") == "namespace" and "namespace" not in target["titleFormat"], where
        else:
            legend = target["legendFormat"]
            assert legend == "{{namespace}}" or legend.endswith(" {{namespace}}"), (where, legend)


def test_the_plant_overview_tables_show_the_plant_and_the_bars_name_it() -> None:
    (overview,) = [d for d in _dashboards() if d["uid"] == "dhag-plant-overview"]
    # A bar per group and plant, named by the legend: a table's rows would reduce to one bar.
    (bars,) = [p for p in overview["panels"] if p["type"] == "bargauge"]
    assert [t["format"] for t in bars["targets"]] == ["time_series"]
    tables = [p for p in overview["panels"] if p["type"] == "table"]
    assert len(tables) == 5
    for panel in tables:
        (organize,) = [t for t in panel.get("transformations", []) if t["id"] == "organize"]
        assert organize["options"]["renameByName"]["namespace"] == "Plant", panel["title"]
        assert organize["options"]["indexByName"]["namespace"] == 0, panel["title"]


def _case(expr: str, time: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    expr = expr.replace("$namespace", "(plant-a|plant-b)").replace("$asset_group", ".*")
    expected = [{"labels": labels, "value": value} for labels, value in samples]
    return {"expr": expr, "eval_time": time, "exp_samples": expected}


def test_two_plants_with_the_same_asset_and_daemon_address_stay_apart(tmp_path: Path) -> None:
    # Plant a's and plant b's pump-01, each scored by a daemon at 10.0.0.5:9108 (a pod IP used again),
    # with thresholds 0.9 and 0.6: the score panel shows two pump-01, the threshold query
    # joins each daemon with its own model (one address, two plants: a many-to-many match before), and
    # plant b's promotion of v2 marks plant b, though plant a ran v2 before.
    targets = _targets()
    score = targets["dhag-plant-overview / Anomaly score per asset / A"]["expr"]
    threshold = targets["dhag-plant-overview / Anomaly score per asset / B"]["expr"]
    promoted = targets["dhag-plant-overview / annotation Model promoted"]["expr"]
    daemon = 'job="dhag-pipeline", instance="10.0.0.5:9108"'

    def series(name: str, plant: str, values: str, extra: str = "") -> dict[str, str]:
        return {"series": f'{name}{{namespace="{plant}", {daemon}{extra}}}', "values": values}

    inputs = [
        series("dhag_asset_score", "plant-a", "0.2x10", ', asset="pump-01"'),
        series("dhag_asset_score", "plant-b", "0.7x10", ', asset="pump-01"'),
        series("dhag_model_threshold", "plant-a", "0.9x10"),
        series("dhag_model_threshold", "plant-b", "0.6x10"),
        # Plant a has run v2 all along; plant b promotes it at minute 5.
        series("dhag_model_info", "plant-a", "1x10", ', version="v2"'),
        series("dhag_model_info", "plant-b", "1 1 1 1 1 0 0 0 0 0 0", ', version="v1"'),
        series("dhag_model_info", "plant-b", "_ _ _ _ _ 1 1 1 1 1 1", ', version="v2"'),
    ]
    check_recording_rules(
        tmp_path / "two-plants-test.yml",
        inputs,
        [
            _case(
                score,
                "8m",
                [
                    ('{namespace="plant-a", asset="pump-01"}', 0.2),
                    ('{namespace="plant-b", asset="pump-01"}', 0.7),
                ],
            ),
            _case(
                threshold,
                "8m",
                [
                    ('{namespace="plant-a", version="v2"}', 0.9),
                    ('{namespace="plant-b", version="v2"}', 0.6),
                ],
            ),
            _case(promoted, "6m", [('{namespace="plant-b", version="v2"}', 1)]),
        ],
    )


def test_the_top_assets_of_each_chosen_plant_are_listed(tmp_path: Path) -> None:
    # Plant a's eleven fans score 0.70 to 0.80, under its model's threshold 0.9 (normal); plant b's
    # pump-01 scores 0.6, over its model's 0.5 (anomalous). Before, the table's ten were plant a's fans
    # and pump-01, the one asset in trouble, was not listed.
    top = _targets()["dhag-plant-overview / Top assets by anomaly score / A"]["expr"]
    daemon = 'job="dhag-pipeline", instance="10.0.0.5:9108"'
    scores = {("plant-a", f"fan-{n:02d}"): round(0.7 + 0.01 * n, 2) for n in range(11)}
    scores[("plant-b", "pump-01")] = 0.6
    inputs = [
        {"series": f'dhag_asset_score{{namespace="{plant}", {daemon}, asset="{asset}"}}', "values": f"{v}x5"}
        for (plant, asset), v in scores.items()
    ]
    listed = [
        (f'{{namespace="{plant}", asset="{asset}", asset_group="{asset.split("-")[0]}"}}', v)
        for (plant, asset), v in scores.items()
        if asset != "fan-00"  # plant a's eleventh
    ]
    check_recording_rules(tmp_path / "top-assets-test.yml", inputs, [_case(top, "3m", listed)])
