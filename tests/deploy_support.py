"""Helpers of the deploy tests: the service's metric catalogue, PromQL name references, external tools."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from pipeline.metrics import PipelineMetrics, RetrainMetrics

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RUNBOOKS = REPO / "docs" / "runbooks"
SEVERITIES = {"critical", "warning", "info"}
# The alerting path's heartbeat (dhag-watchdog.yml): always firing, of severity "none", to the
# dead-man's-switch receiver only; about no plant, so it names none.
WATCHDOG = "DhagWatchdog"
# Labels Prometheus adds to every scraped series, and the namespace Kubernetes discovery adds (none
# under compose) by which the dashboards filter a plant.
TARGET_LABELS = {"job", "instance", "namespace"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")  # [5m], and a subquery's [70m:1m], whose ":1m" is no name


def tool(name: str) -> str:
    """The path of an external command; skips the test when it is not installed (.ci/run installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager)")
    return path


def run(
    cmd: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (with ``env`` added to this process's environment) and return it; the caller asserts
    on the exit code with the output as message. The slowest, promtool on a day of rule evaluations
    at one a minute, takes about 50 s of CPU alone and twice that on a busy machine: four minutes
    is the bound, under pytest's five."""
    full = None if env is None else os.environ | env
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=240, env=full)


def load_yaml(path: Path) -> Any:
    """The parsed content of one YAML file."""
    return yaml.safe_load(path.read_text())


# The retrainer's series as its contract fixes them (name -> label names), which deploy/ is written
# against; test_deploy_prometheus checks that pipeline.metrics.RetrainMetrics exports each of them.
RETRAINER_CONTRACT: dict[str, set[str]] = {
    "dhag_labels_received_total": {"label"},
    "dhag_labels_repeated_total": set(),
    "dhag_labels_changed_total": {"label"},
    "dhag_labels_dlq_total": {"reason"},
    "dhag_labels_pending": set(),
    "dhag_retrain_runs_total": {"outcome"},
    "dhag_retrain_last_success_timestamp_seconds": set(),
    "dhag_retrain_last_run_timestamp_seconds": set(),
    "dhag_retrain_started_timestamp_seconds": set(),
    "dhag_retrain_duration_seconds_bucket": {"le"},
    "dhag_retrain_duration_seconds_sum": set(),
    "dhag_retrain_duration_seconds_count": set(),
    "dhag_registry_current_info": {"version"},
    "dhag_retrain_promotions_held": set(),
}


def named_volumes(service: dict[str, Any]) -> set[tuple[str, str]]:
    """``(volume, mount path)`` of a resolved service's named volumes (short or long syntax)."""
    mounts = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source and not source.startswith(("/", ".")):
            mounts.add((source, target))
    return mounts


def _exported(registry: CollectorRegistry, metrics: object) -> dict[str, set[str]]:
    """Sample name -> label names of ``metrics`` (one object's metrics on ``registry``).

    Each labelled metric gets one child so that it yields samples, as it does once the process runs.
    """
    for metric in vars(metrics).values():
        names = getattr(metric, "_labelnames", ())
        if isinstance(metric, MetricWrapperBase) and names:
            metric.labels(**dict.fromkeys(names, "x"))
    series: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def retrainer_series() -> dict[str, set[str]]:
    """Every sample name the retrainer exports -> its label names."""
    registry = CollectorRegistry()
    return _exported(registry, RetrainMetrics(registry))


# Series both export on purpose, with the same labels: one alert covers both (DhagKafkaAccessRefused's
# counter), or the rules meant for the daemon read only operations the retrainer never fails
# (dhag_broker_failures_total: produce, stalled, join, carry_over are the daemon's alone). Any other name
# both export would be caught by rules meant for one of them.
SHARED = {
    "dhag_broker_refusals_total",
    "dhag_broker_refusals_created",
    "dhag_broker_failures_total",
    "dhag_broker_failures_created",
}


def pipeline_series() -> dict[str, set[str]]:
    """Every sample name the service exports (``_total``, ``_bucket``... included) -> its label names:
    the daemon's and the retrainer's (their names do not overlap, but for :data:`SHARED`)."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry, asset_limit=1)
    metrics.set_asset("pump-01", score=0.1, anomalous=False)
    daemon = _exported(registry, metrics)
    retrainer = retrainer_series()
    both = set(daemon) & set(retrainer)
    assert both <= SHARED, f"the daemon and the retrainer export the same name: {sorted(both - SHARED)}"
    assert all(daemon[name] == retrainer[name] for name in both), "a shared series with other labels"
    return daemon | retrainer


def recorded_names() -> set[str]:
    """The names of all recording rules in deploy/prometheus/rules."""
    return {
        rule["record"]
        for path in RULES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule in deploy/prometheus/rules."""
    return [
        rule
        for path in RULES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric name, label names in its matchers)`` for every ``dhag_...`` or recorded-rule selector."""
    bare = _RANGE.sub("", _STRING.sub('""', expr))
    found = []
    for match in _SELECTOR.finditer(bare):
        name, matchers = match.group(1), match.group(2) or ""
        if name.startswith("dhag_") or ":" in name:
            found.append((name, set(_MATCHER_LABEL.findall(matchers))))
    return found


def unknown_references(expr: str, series: dict[str, set[str]], recorded: set[str]) -> list[str]:
    """What ``expr`` names that neither the daemon exports nor a recording rule defines."""
    problems = []
    for name, labels in selectors(expr):
        if ":" in name:
            if name not in recorded:
                problems.append(f"{name} is not a recording rule")
        elif name not in series:
            problems.append(f"{name} is not exported by pipeline.metrics")
        elif labels - series[name] - TARGET_LABELS:
            problems.append(f"{name} has no label(s) {sorted(labels - series[name] - TARGET_LABELS)}")
    return problems


def promtool_syntax_errors(exprs: dict[str, str], workdir: Path) -> str:
    """Write ``exprs`` (name -> PromQL) as recording rules and return promtool's complaints ('' if none)."""
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, expr in enumerate(exprs.values())]
    path = workdir / "generated-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "syntax-check", "rules": rules}]}, sort_keys=False))
    result = run([tool("promtool"), "check", "rules", str(path)])
    if result.returncode == 0:
        return ""
    legend = "\n".join(f"check:expr_{i} = {name}" for i, name in enumerate(exprs))
    return f"{result.stdout}{result.stderr}\n{legend}"


def check_recording_rules(
    path: Path, input_series: list[dict[str, Any]], cases: list[dict[str, Any]]
) -> None:
    """Write at ``path`` a promtool rule test of the recording rules (``dhag-recording.yml``, evaluated
    every minute on series sampled every minute) with ``input_series`` and the PromQL ``cases``, run it,
    and fail with promtool's output unless every case holds."""
    test = {"interval": "1m", "input_series": input_series, "promql_expr_test": cases}
    rules = [str(DEPLOY / "prometheus" / "rules" / "dhag-recording.yml")]
    path.write_text(json.dumps({"rule_files": rules, "evaluation_interval": "1m", "tests": [test]}))
    result = run([tool("promtool"), "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
