"""deploy/grafana/dashboards: each series drawn in a unit that is what it counts, whatever the unit of
the panel it shares; the series the daemons and the retrainer both export kept apart; a title that
says how long an alert waits says what its rule waits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from deploy_support import DEPLOY, SHARED, alert_rules
from prometheus_client import CollectorRegistry

from pipeline.metrics import RetrainMetrics

DASHBOARDS = DEPLOY / "grafana" / "dashboards"
# The unit of a count per second: every one the dashboards draw is of records, and Grafana labels
# each of its own (Throughput in its unit picker) with what it counts, which is never a record.
RECORDS_PER_SECOND = "suffix: records/s"
PER_SECOND = {RECORDS_PER_SECOND}
# Grafana's own units of a count per time (requests, reads, writes, I/O operations, counts, operations).
GRAFANA_THROUGHPUT = {"reqps", "rps", "wps", "iops", "cps", "ops", "cpm", "opm", "rpm", "wpm"}


def _targets() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard file, panel, query) for every query of every panel."""
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield path.name, panel, target


def unit_of(panel: dict[str, Any], ref_id: str) -> str | None:
    """The unit Grafana draws query ``ref_id``'s series in: an override that matches that query, else
    the panel's own."""
    unit = panel["fieldConfig"]["defaults"].get("unit")
    for override in panel["fieldConfig"].get("overrides", []):
        if override["matcher"] == {"id": "byFrameRefID", "options": ref_id}:
            unit = next((p["value"] for p in override["properties"] if p["id"] == "unit"), unit)
    return unit


def _is_count(expr: str) -> bool:
    """A count or a count per second (a rate or increase, not divided by another, not a quantile)."""
    return bool(re.search(r"\b(?:rate|increase)\(", expr)) and "/" not in expr and "quantile" not in expr


def test_the_unit_check_sees_an_override_by_query() -> None:
    panel = {"fieldConfig": {"defaults": {"unit": "percentunit"}, "overrides": []}}
    assert unit_of(panel, "C") == "percentunit"
    panel["fieldConfig"]["overrides"] = [
        {"matcher": {"id": "byFrameRefID", "options": "C"}, "properties": [{"id": "unit", "value": "cps"}]}
    ]
    assert unit_of(panel, "C") == "cps" and unit_of(panel, "A") == "percentunit"
    assert _is_count("sum by (reason) (rate(dhag_dlq_records_total[5m]))")
    assert not _is_count("sum(rate(a_total[5m])) / sum(rate(b_total[5m]))")


def test_no_count_or_rate_is_drawn_as_a_percentage() -> None:
    # Before, the pipeline health's "Dead-letter queue" panel (percentunit, for its shares of records
    # dead-lettered) drew its third query, the records dead-lettered per second by reason, in percent:
    # 2 records/s of not_json read "200%", beside shares of a few percent.
    drawn = []
    for name, panel, target in _targets():
        if _is_count(target["expr"]):
            drawn.append(target["expr"])
            assert unit_of(panel, target["refId"]) != "percentunit", (
                f"{name}, {panel['title']!r}, query {target['refId']}: a count drawn in percent"
            )
    assert any("dhag_dlq_records_total" in expr for expr in drawn)


def test_a_series_whose_legend_says_per_second_is_drawn_per_second() -> None:
    seen = 0
    for name, panel, target in _targets():
        legend = target.get("legendFormat", "")
        if re.search(r"(?:^|\s)/s\b", legend) and panel["type"] == "timeseries":
            seen += 1
            assert unit_of(panel, target["refId"]) in PER_SECOND, (
                f"{name}, {panel['title']!r}, query {target['refId']} ({legend!r}): not drawn per second"
            )
    assert seen, "no legend says /s: the check checks nothing"


def test_a_rate_of_records_reads_records_per_second() -> None:
    # Before, the pipeline health's Throughput panel, the records dead-lettered per second by reason
    # and each daemon's records per second beside its poll limit were drawn as reqps, which Grafana
    # labels as requests per second ("req/s"), as if the records were HTTP requests.
    seen = 0
    for name, panel, target in _targets():
        unit = unit_of(panel, target["refId"])
        where = f"{name}, {panel['title']!r}, query {target['refId']}"
        assert unit not in GRAFANA_THROUGHPUT, f"{where}: drawn as {unit}, which names no record"
        if unit == RECORDS_PER_SECOND:
            seen += 1
            assert "rate" in target["expr"] and "records" in target["expr"], where
    assert seen >= 4, "fewer rates of records than the dashboards draw: the check checks less"


def _minutes(alert: str) -> int:
    """The `for:` of ``alert`` in the rule files, in minutes."""
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == alert]
    number, unit = re.fullmatch(r"(\d+)([mh])", rule["for"]).groups()
    return int(number) * (60 if unit == "h" else 1)


def test_the_titles_that_say_how_long_an_alert_waits_say_its_rules_wait() -> None:
    # Before, the panel of the readings misdated and of assets without a reference said both alerts
    # fire after 30 minutes; DhagReadingsMisdated waits 35 (five more than DhagAssetClockSkewed).
    titles = {panel["title"] for _, panel, _ in _targets()}
    (beyond,) = [title for title in titles if title.startswith("Readings beyond the training range")]
    assert f"for {_minutes('DhagOutsideTrainingRange')} min" in beyond
    (misdated,) = [title for title in titles if title.startswith("Readings misdated")]
    assert f"misdated for {_minutes('DhagReadingsMisdated')} min" in misdated, misdated
    assert f"without a reference for {_minutes('DhagReadingsUnreferenced')} min" in misdated, misdated


def _retrainer_operations(name: str) -> set[str]:
    """The values of ``operation`` the retrainer exports ``name`` with (each from its start)."""
    registry = CollectorRegistry()
    RetrainMetrics(registry)
    return {s.labels["operation"] for f in registry.collect() for s in f.samples if s.name == name}


def merges_the_retrainer(expr: str) -> list[str]:
    """The selectors of ``expr`` of a series both the daemons and the retrainer export that an
    aggregation without ``job`` adds up over both: none of its matchers leaves the retrainer out (a
    ``job`` matcher, or operations it never fails)."""
    merged = []
    aggregations = re.findall(
        r"\b(?:sum|min|max|avg|count|group|topk|bottomk)\b\s*(\w*)\s*(\([^()]*\))?\s*\(", expr
    )
    keeps_job = all(how == "by" and re.search(r"\bjob\b", labels) for how, labels in aggregations)
    for name, matchers in re.findall(r"\b(dhag_broker_\w+_total)(\{[^}]*\})?", expr):
        if name not in SHARED or keeps_job or re.search(r"\bjob\s*=", matchers):
            continue
        operations = re.search(r'operation\s*=~?\s*"([^"]*)"', matchers)
        if operations and not set(operations.group(1).split("|")) & _retrainer_operations(name):
            continue
        merged.append(name + matchers)
    return merged


def test_the_merge_check_sees_the_retrainer_added_to_the_daemons() -> None:
    assert merges_the_retrainer("sum by (namespace, operation) (increase(dhag_broker_failures_total[1h]))")
    assert not merges_the_retrainer(
        "sum by (namespace, job, operation) (rate(dhag_broker_failures_total[5m]))"
    )
    assert not merges_the_retrainer('sum(increase(dhag_broker_failures_total{operation="carry_over"}[1h]))')
    assert merges_the_retrainer('sum(increase(dhag_broker_failures_total{operation=~"poll|join"}[1h]))')


def test_no_panel_adds_the_retrainers_broker_failures_to_the_daemons() -> None:
    # Before, the pipeline health's "Broker failures by operation" summed dhag_broker_failures_total by
    # operation alone: the retrainer's failed polls and connections (it exports the same counter)
    # showed as the daemons', "poll" and "connection", beside the refusals kept apart by job.
    seen = 0
    for name, panel, target in _targets():
        if any(shared in target["expr"] for shared in SHARED):
            seen += 1
            assert not merges_the_retrainer(target["expr"]), f"{name}, {panel['title']!r}: {target['expr']}"
    assert seen >= 2
