"""deploy/grafana/dashboards: every query of a panel drawn in the unit of what its metrics measure
(seconds, a count per second, a share, an anomaly score, a count), and every series named by labels
an operator can look up: a daemon by its pod where it has one, never by the address alone (on
Kubernetes a pod IP)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from deploy_support import DEPLOY
from test_deploy_grafana_units import PER_SECOND, unit_of

DASHBOARDS = DEPLOY / "grafana" / "dashboards"
# The units Grafana may draw each kind of query in.
# An anomaly score, or the threshold it is compared with, is a number in [0, 1] (docs/metrics.md), no
# share of anything: a plain number (to SCORE_DECIMALS decimals), never "93%".
UNITS = {
    "seconds": {"s"},
    "per second": PER_SECOND,
    "share": {"percentunit"},
    "score": {"none"},
    "count": {"short", "none"},
}
SCORE_DECIMALS = 3
_NAMES = re.compile(r"\b(?:dhag_\w+|[a-zA-Z_]\w*(?::\w+)+)")


def _targets() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard file, panel, query) for every query of every panel."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield path.name, panel, target


def kind_of(expr: str) -> str:
    """What a query measures, from its metrics' names and what it does with them: seconds (a name in
    seconds, a timestamp less the time), a count per second (a rate, not divided), a share (one rate
    divided by another, a ratio), an anomaly score (or the threshold scores are compared with, both in
    [0, 1]) or a count (of a score histogram's buckets too)."""
    names = _NAMES.findall(re.sub(r"\{[^}]*\}", "", expr))
    if any("_seconds" in name for name in names):
        return "seconds"
    per_second = re.search(r"\brate\(", expr) or any(":rate" in name for name in names)
    if any(re.search(r"score|threshold", name) and "_bucket" not in name for name in names):
        return "score"
    if "/" in expr or any("ratio" in name for name in names):
        return "share"
    return "per second" if per_second else "count"


def test_the_kind_check_tells_the_units_apart() -> None:
    assert kind_of("max by (namespace) (job:dhag_end_to_end_lag_seconds:p99_5m)") == "seconds"
    assert kind_of("time() - max(dhag_retrain_last_run_timestamp_seconds)") == "seconds"
    assert kind_of("sum by (namespace, instance) (rate(dhag_batch_records_sum[5m]))") == "per second"
    assert kind_of("sum by (namespace) (job:dhag_records_consumed:rate1m)") == "per second"
    assert (
        kind_of('sum(rate(a_total[5m])) / sum(rate(dhag_records_processed_total{outcome="ok"}[5m]))')
        == "share"
    )
    assert kind_of("max by (namespace) (dhag_dlq_window_ratio)") == "share"
    assert kind_of("max by (namespace, asset) (dhag:asset_score)") == "score"
    assert kind_of("max by (namespace) (dhag_model_threshold)") == "score"
    assert kind_of("dhag_poll_max_records") == "count"
    assert kind_of("sum by (le) (increase(dhag_anomaly_score_bucket[5m]))") == "count"
    assert kind_of("sum by (namespace) (increase(dhag_alerts_opened_total[1h]))") == "count"


def test_every_query_is_drawn_in_the_unit_of_what_it_measures() -> None:
    # Before, the pipeline health's "Records per poll allowed" drew each daemon's records per second
    # (a rate of dhag_batch_records_sum) on the axis of its poll limit (records), both as "short".
    wrong, kinds = [], set()
    for name, panel, target in _targets():
        kind = kind_of(target["expr"])
        kinds.add(kind)
        unit = unit_of(panel, target["refId"])
        if unit not in UNITS[kind]:
            wrong.append(f"{name}, {panel['title']!r}, query {target['refId']}: {kind} drawn as {unit}")
    assert wrong == []
    assert kinds == set(UNITS), "a kind no query has: the check checks less than it says"


def test_scores_are_drawn_as_plain_numbers_to_three_decimals() -> None:
    # Before, the plant overview's "Anomaly score per asset" (and the thresholds beside them), "Top
    # assets by anomaly score" and the last scores of the assets no longer scored, and the pipeline
    # health's "Alert threshold", were drawn in percentunit: a score of 0.934 read "93.4%", as if it
    # were a probability or a share of something, against a threshold of "91.2%".
    scores = []
    for name, panel, target in _targets():
        if kind_of(target["expr"]) == "score":
            scores.append(panel["title"])
            assert unit_of(panel, target["refId"]) in UNITS["score"], f"{name}, {panel['title']!r}"
            decimals = panel["fieldConfig"]["defaults"].get("decimals")
            assert decimals == SCORE_DECIMALS, f"{name}, {panel['title']!r}: {decimals} decimals"
    assert {"Anomaly score per asset", "Top assets by anomaly score", "Alert threshold"} <= set(scores)


def test_no_series_is_named_by_its_address() -> None:
    # Before, "Partitions and replicas" and "Records per poll allowed" named each daemon's line
    # {{instance}}: on Kubernetes a pod IP and port, which no operator can tell a pod by. A daemon's
    # series are named {{daemon}}: its pod, or its address where it has none (compose).
    seen = 0
    for name, panel, target in _targets():
        legend = target.get("legendFormat", "")
        assert "{{instance}}" not in legend.replace(" ", ""), f"{name}, {panel['title']!r}: {legend!r}"
        if "{{daemon}}" in legend:
            seen += 1
            assert '"daemon", "$1", "pod", "(.+)"' in target["expr"], f"{name}, {panel['title']!r}"
    assert seen >= 2
