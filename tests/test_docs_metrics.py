"""Metric names in the documents and the deploy files against what the service exports, and the metric
catalogue (docs/metrics.md) against pipeline/metrics.py: every series listed, with its type, labels and
the label values it is exported with from start-up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from deploy_support import DEPLOY, REPO, pipeline_series, recorded_names
from docs_support import doc_files
from prometheus_client import CollectorRegistry

from pipeline.broker import export_broker_memory
from pipeline.metrics import PipelineMetrics, RetrainMetrics

CATALOGUE = REPO / "docs" / "metrics.md"
# dhag_x, and recording rules: dhag:x, level:dhag_x:operations (not a file name such as table2_dhag_x).
_NAME = re.compile(r"(?<![\w:.-])(?:[a-zA-Z_]\w*:)?dhag[_:][\w:]*")


@dataclass
class Family:
    type: str
    labels: set[str]
    startup_values: dict[str, set[str]] = field(default_factory=dict)


class _Broker:
    """The embedded broker's memory, as ``export_broker_memory`` reads it."""

    def memory_bytes(self) -> float:
        return 0.0


def _families(
    registry: CollectorRegistry, series: dict[str, set[str]], *, embedded: bool = False
) -> dict[str, Family]:
    """Name as documented (a counter's ``_total``) -> its family, from a process that has just started
    (``embedded``: with an embedded broker, as `run` takes one; `retrain` refuses it)."""
    if embedded:
        export_broker_memory(_Broker(), registry)
    found = {}
    for family in registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        sample = {"counter": "_total", "histogram": "_count"}.get(family.type, "")
        values: dict[str, set[str]] = {}
        for s in family.samples:
            for label, value in s.labels.items():
                if label != "le":
                    values.setdefault(label, set()).add(value)
        labels = series.get(family.name + sample, set()) - {"le"}
        found[name] = Family(family.type, labels, values)
    return found


def daemon_families() -> dict[str, Family]:
    return _families(_daemon_registry(), pipeline_series(), embedded=True)


def _daemon_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    PipelineMetrics(registry)
    return registry


def retrainer_families() -> dict[str, Family]:
    registry = CollectorRegistry()
    RetrainMetrics(registry)
    return _families(registry, pipeline_series())


def _table(section: str) -> dict[str, list[str]]:
    """First column (the name in backticks) -> the row's cells, of the table under ``## section``."""
    text = CATALOGUE.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    rows = {}
    for line in text[start : None if end < 0 else end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells:
            name = cells[0].strip("`")
            assert name not in rows, f"{name} is listed twice"
            rows[name] = cells
    return rows


def _check(rows: dict[str, list[str]], exported: dict[str, Family]) -> list[str]:
    problems = []
    for name, (_, kind, labels, meaning) in rows.items():
        if name not in exported:
            problems.append(f"{name}: listed, but not exported")
            continue
        family = exported[name]
        listed = set(re.findall(r"`(\w+)`", labels))
        if kind != family.type:
            problems.append(f"{name}: listed as a {kind}, exported as a {family.type}")
        if listed != family.labels:
            problems.append(f"{name}: labels {sorted(listed)} listed, {sorted(family.labels)} exported")
        for label, values in family.startup_values.items():
            listing = re.findall(rf"`{label}`:\s*([^`|]*)", labels)
            named = {v.strip() for v in listing[0].split(",")} if listing else set()
            if values - named:
                problems.append(f"{name}: {label} values {sorted(values - named)} are not listed")
        if not meaning:
            problems.append(f"{name}: no meaning")
    return problems


def test_the_catalogue_lists_every_series_the_daemon_exports_as_it_exports_it() -> None:
    rows, exported = _table("The scoring daemon"), daemon_families()
    assert sorted(set(exported) - set(rows)) == [], "exported but not in docs/metrics.md"
    assert _check(rows, exported) == []


def test_the_catalogue_lists_every_series_the_retrainer_exports_as_it_exports_it() -> None:
    rows, exported = _table("The retrainer"), retrainer_families()
    # Kafka's failures and refusals, counted for other operations, are in both tables. (No embedded
    # broker's memory: the retrainer refuses an embedded broker.)
    shared = set(_table("The scoring daemon")) & set(exported)
    assert shared == {"dhag_broker_failures_total", "dhag_broker_refusals_total"}
    assert sorted(set(exported) - set(rows)) == [], "exported but not in docs/metrics.md"
    assert _check(rows, exported) == []


def test_the_catalogue_check_sees_a_wrong_type_label_or_value() -> None:
    exported = daemon_families()
    name = "dhag_records_processed_total"
    right = ["`dhag_records_processed_total`", "counter", "`outcome`: ok, invalid, error", "Records."]
    assert _check({name: right}, exported) == []
    assert _check({name: [right[0], "gauge", *right[2:]]}, exported)
    assert _check({name: [*right[:2], "`result`: ok, invalid, error", right[3]]}, exported)
    assert _check({name: [*right[:2], "`outcome`: ok, invalid", right[3]]}, exported)
    assert _check({"dhag_records_processed": right}, exported)  # a counter is queried as _total


def test_the_catalogue_lists_every_recording_rule() -> None:
    assert set(_table("Recording rules")) == recorded_names()


def _mentioning_files() -> list[Path]:
    """Every file that names metrics for a reader or for Prometheus, Grafana and Alertmanager."""
    deploy = [
        *(DEPLOY / "prometheus").rglob("*.yml"),
        *(DEPLOY / "grafana").rglob("*.json"),
        *(DEPLOY / "grafana").rglob("*.yaml"),
        *(DEPLOY / "alertmanager").rglob("*.yml"),
        DEPLOY / "dashboards.py",
        DEPLOY / "dashboard_plant.py",
        DEPLOY / "dashboard_health.py",
        DEPLOY / "dashboard_retrain.py",
        DEPLOY / "render.py",
        DEPLOY / "k8s-rules" / "prometheusrule.yaml",
    ]
    return [*doc_files(), REPO / "config.yaml", *sorted(deploy)]


def mentioned_names(text: str) -> set[str]:
    """The metric and recording-rule names in ``text`` (not the bare prefix ``dhag_``)."""
    return {name for name in _NAME.findall(text) if not name.endswith("_") and not name.endswith(":")}


def test_every_metric_name_in_the_docs_and_deploy_files_is_exported_or_recorded() -> None:
    series = pipeline_series() | {"dhag_embedded_broker_memory_bytes": set()}
    histograms = {name.removesuffix("_bucket") for name in series if name.endswith("_bucket")}
    known = set(series) | histograms | recorded_names()
    unknown, seen = [], set()
    for path in _mentioning_files():
        names = mentioned_names(path.read_text())
        seen |= names
        unknown += [f"{path.relative_to(REPO)}: {name}" for name in sorted(names - known)]
    assert unknown == []
    # The check sees names in each kind of file: a runbook's, a dashboard's, a rule's, a recorded one.
    assert {"dhag_dlq_paused", "job:dhag_dlq_records:ratio_rate5m", "dhag_labels_dlq_total"} <= seen
    text = "`dhag_records_consumed`, job:dhag_x:rate1m, dhag:y; not `dhag_`, table2_dhag_z.json, dhag: error"
    assert mentioned_names(text) == {"dhag_records_consumed", "job:dhag_x:rate1m", "dhag:y"}
