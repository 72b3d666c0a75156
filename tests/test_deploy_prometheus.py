"""deploy/prometheus and deploy/alertmanager: promtool and amtool checks, rule unit tests, and consistency
with the metrics the daemon exports and the runbooks in docs/runbooks."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from deploy_support import (
    DEPLOY,
    REPO,
    RETRAINER_CONTRACT,
    RULES,
    RUNBOOKS,
    SEVERITIES,
    WATCHDOG,
    alert_rules,
    load_yaml,
    pipeline_series,
    recorded_names,
    retrainer_series,
    run,
    selectors,
    tool,
    unknown_references,
)
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics, RetrainMetrics

PROMETHEUS = DEPLOY / "prometheus"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def test_prometheus_config_and_its_rule_files_are_valid() -> None:
    result = run([tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    # The config's rule_files glob picks up every rule file of the folder.
    assert f"{len(RULES)} rule files found" in result.stdout


def test_rule_files_are_valid() -> None:
    result = run([tool("promtool"), "check", "rules", *map(str, RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_rule_unit_tests() -> None:
    assert {"dhag-alerts-test.yml", "dhag-retrain-test.yml"} <= {path.name for path in RULE_TESTS}


# One promtool run per file, each well inside the run's time limit, and spread over the test workers:
# the day-long cases evaluate every rule at each of 1,440 minutes.
@pytest.mark.parametrize("unit_tests", RULE_TESTS, ids=lambda path: path.name)
def test_rule_unit_tests_pass(unit_tests: Path) -> None:
    result = run([tool("promtool"), "test", "rules", unit_tests.name], cwd=PROMETHEUS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_every_alert_has_a_positive_and_a_negative_unit_test() -> None:
    fired, silent = set(), set()
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - fired == set(), "alerts without a case where they fire"
    # The watchdog has none: it fires always (dhag-watchdog-test.yml), and no case may expect otherwise.
    assert alerts - silent == {WATCHDOG}, "alerts without a case where they stay silent"


def test_every_alert_has_severity_annotations_and_an_existing_runbook() -> None:
    rules = alert_rules()
    assert len(rules) >= 9
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in (SEVERITIES if name != WATCHDOG else {"none"}), name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations), name
        assert annotations["runbook_url"].endswith(f"/docs/runbooks/{name}.md"), name
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), f"{name}: {runbook} is missing"
        text = runbook.read_text()
        assert text.startswith(f"# {name}\n") and "## Act" in text, f"{name}: runbook lacks a title or steps"


def test_the_asset_alert_names_the_asset_and_is_one_per_asset() -> None:
    # Its identity is the asset: a label that changes under an ongoing fault (the daemon, the model
    # version) would resolve it and fire it again (promtool tests: a model swap and a partition move).
    (rule,) = [r for r in alert_rules() if r["alert"] == "DhagAssetAnomalous"]
    assert rule["expr"].startswith("max without (instance, pod, container, endpoint) ")
    assert "{{ $labels.asset }}" in rule["annotations"]["summary"]
    assert "$labels.instance" not in str(rule) and "$labels.version" not in str(rule)


def test_every_metric_in_the_rules_is_exported_by_the_daemon() -> None:
    series, recorded = pipeline_series(), recorded_names()
    seen = set()
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                problems = unknown_references(rule["expr"], series, recorded)
                assert not problems, f"{rule.get('alert') or rule.get('record')}: {problems}"
                seen.update(name for name, _ in selectors(rule["expr"]))
    # The checker itself sees what it should (a checker that finds nothing proves nothing).
    expected = {"dhag_asset_anomalous", "dhag_broker_connected", "dhag_dlq_paused", "dhag:asset_anomalous"}
    assert expected <= seen
    assert {"dhag_retrain_runs_total", "dhag_labels_dlq_total", "dhag_labels_received_total"} <= seen


_COUNTED = re.compile(r"\b(?:increase|rate)\(\s*(dhag_\w+)\s*(\{[^}]*\})?\s*\[")


def test_every_counter_an_alert_counts_is_exported_at_zero_from_the_start() -> None:
    # increase() reads a series that first appears at 1 as no increase: the first refused model, stalled
    # broker or processing_error after each restart would go unalerted. So every series an alert or
    # recording rule takes increase() or rate() of must already be exported at 0 by a daemon that has
    # just loaded its model, and by a retrainer that has just started.
    daemon, retrainer = CollectorRegistry(), CollectorRegistry()  # two processes: a shared name each
    PipelineMetrics(daemon).set_model("v1", 0.5)
    RetrainMetrics(retrainer)
    samples = [
        (s.name, s.labels, s.value)
        for registry in (daemon, retrainer)
        for family in registry.collect()
        for s in family.samples
    ]
    checked = []
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                for name, matchers in _COUNTED.findall(rule["expr"]):
                    # A regex matcher of alternatives (operation=~"a|b") wants every one of them.
                    found = re.findall(r'(\w+)\s*(=~|=)\s*"([^"]*)"', matchers)
                    choices = [[(k, a) for a in (v.split("|") if op == "=~" else [v])] for k, op, v in found]
                    for wanted in map(dict, itertools.product(*choices)):
                        at_zero = [
                            v for n, labels, v in samples if n == name and wanted.items() <= labels.items()
                        ]
                        assert at_zero and all(v == 0 for v in at_zero), (
                            rule.get("alert") or rule["record"],
                            name,
                            wanted,
                        )
                    checked.append(name)
    assert {"dhag_model_reloads_total", "dhag_drift_detections_total", "dhag_labels_dlq_total"} <= set(
        checked
    )


def test_the_retrainer_exports_the_series_of_its_contract() -> None:
    exported = retrainer_series()
    for name, labels in RETRAINER_CONTRACT.items():
        assert name in exported, f"pipeline.metrics.RetrainMetrics does not export {name}"
        assert exported[name] == labels, f"{name}: labels {sorted(exported[name])}, not {sorted(labels)}"


def test_prometheus_scrapes_the_retrainer_as_the_job_its_rules_select() -> None:
    jobs = {c["job_name"]: c for c in load_yaml(PROMETHEUS / "prometheus.yml")["scrape_configs"]}
    (targets,) = [group["targets"] for group in jobs["dhag-retrainer"]["static_configs"]]
    # A singleton: exactly one target, on the retrainer's default metrics port.
    (target,) = targets
    host, port = target.rsplit(":", 1)
    assert int(port) == Settings().retrain.metrics_port
    assert host in load_yaml(DEPLOY / "compose.yaml")["services"]
    retrainer_alerts = [r for r in alert_rules() if "retrain" in r["expr"] or "labels" in r["expr"]]
    assert len(retrainer_alerts) >= 4
    for rule in retrainer_alerts:
        assert rule["labels"]["severity"] == "warning", rule["alert"]


def test_an_asset_is_marked_misdated_by_its_daemons_max_behind_s_else_the_default() -> None:
    # DhagAssetClockSkewed's readings="misdated" holds back DhagReadingsMisdated in Alertmanager: it
    # must mark exactly the assets whose readings the daemons count as misdated, by each daemon's own
    # setting (dhag-misdated-setting-test.yml), and by the default for one that does not export it.
    (rule,) = [
        rule
        for group in load_yaml(PROMETHEUS / "rules" / "dhag-recording.yml")["groups"]
        for rule in group["rules"]
        if rule.get("record") == "dhag:asset_clock_offset_seconds:misdated"
    ]
    assert "-dhag_records_max_behind_seconds" in rule["expr"]
    assert f"dhag:asset_clock_offset_seconds < -{Settings().records.max_behind_s:.0f}\n" in rule["expr"]


def test_the_consistency_check_catches_a_misspelt_metric_and_label() -> None:
    series, recorded = pipeline_series(), recorded_names()
    assert "dhag_records_processed_total" in series and "dhag_anomaly_score_bucket" in series
    assert unknown_references("rate(dhag_records_proccessed_total[5m])", series, recorded)
    assert unknown_references('dhag_model_reloads_total{reslt="failed"}', series, recorded)
    assert unknown_references("job:dhag_nothing:rate5m", series, recorded)
    assert not unknown_references('dhag_model_reloads_total{result="failed", job="x"}', series, recorded)


def test_alertmanager_config_is_valid() -> None:
    result = run([tool("amtool"), "check-config", str(ALERTMANAGER)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["alertname=DhagAssetAnomalous", "asset_group=pump", "severity=critical"],
            "rotating-equipment-oncall",
        ),
        (["alertname=DhagAssetAnomalous", "asset_group=fan", "severity=critical"], "hvac-oncall"),
        (["alertname=DhagAssetAnomalous", "asset_group=mixer", "severity=critical"], "plant-operations"),
        (["alertname=DhagAssetClockSkewed", "asset_group=pump", "severity=warning"], "plant-operations"),
        # A device's clock, named by the daemons' log only: the machines' owners, as a skewed clock.
        (["alertname=DhagReadingsMisdated", "severity=warning"], "plant-operations"),
        # Abnormal machines without per-asset series: the plant's operators, not the platform's pager.
        (["alertname=DhagAssetsAnomalousUnlisted", "severity=critical"], "plant-operations"),
        # An open alert ended by its asset's silence: its owners check the machine, as for DhagAssetSilent.
        (["alertname=DhagAssetSilentInFault", "severity=warning"], "plant-operations"),
        (["alertname=DhagReadingsUnreferenced", "severity=warning"], "ops-chat"),
        (["alertname=DhagDaemonDown", "severity=critical"], "platform-pager"),
        (["alertname=DhagDlqRatioHigh", "severity=warning"], "ops-chat"),
        (["alertname=DhagDriftDetected", "severity=info"], "ops-chat"),
        (["alertname=DhagRetrainerDown", "severity=warning"], "ops-chat"),
    ],
)
def test_alertmanager_routes_by_asset_group_and_severity(labels: list[str], receiver: str) -> None:
    cmd = [tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels]
    result = run(cmd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_alertmanager_routes_only_labels_the_rules_produce() -> None:
    config = ALERTMANAGER.read_text()
    alerts = {rule["alert"] for rule in alert_rules()}
    for name in re.findall(r"\bDhag[A-Za-z]+", config):
        assert name in alerts, f"alertmanager.yml names {name}, which no rule defines"
    assert "asset_group" in (REPO / "deploy/prometheus/rules/dhag-recording.yml").read_text()


# How an annotation says a count of events: a whole number. increase() extrapolates its window's samples
# to the window's ends, so one event scraped out of step with the evaluation reads 1.002.
WHOLE = '{{ $value | printf "%.0f" }}'


def test_an_alert_that_counts_events_says_a_whole_number() -> None:
    # Before, DhagAssetSilentInFault paged "1.002 alert episode(s) of job dhag-pipeline ended because
    # their asset fell silent" and DhagOutputsTooLarge told of "3.041 records" (dhag-counts-test.yml).
    counting = []
    for rule in alert_rules():
        if re.search(r"\bincrease\(|:increase5m\b", rule["expr"]):
            for name, text in rule["annotations"].items():
                assert "{{ $value | humanize }}" not in text, f"{rule['alert']} {name}: a count as {text!r}"
            counting += [rule["alert"]] if any(WHOLE in t for t in rule["annotations"].values()) else []
    assert {"DhagAssetSilentInFault", "DhagOutputsTooLarge", "DhagLabelDlqGrowing"} <= set(counting)
