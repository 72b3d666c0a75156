"""deploy/prometheus/rules: every recording rule is read by an alert, another recording rule, or a
dashboard's query or annotation; one that nothing reads costs Prometheus an evaluation and a series per
job at every interval, and says to a reader that something depends on it."""

from __future__ import annotations

import json
import re

from deploy_support import DEPLOY, RULES, load_yaml

DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def _readers() -> dict[str, str]:
    """Where -> PromQL, for every rule of the rule files and every query of the dashboards."""
    readers = {}
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                readers[f"rule {rule.get('alert') or rule.get('record')}"] = rule["expr"]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                readers[f"{path.name} / {panel['title']} / {target['refId']}"] = target["expr"]
        for annotation in dashboard["annotations"]["list"]:
            readers[f"{path.name} / annotation {annotation['name']}"] = annotation.get("expr", "")
    return readers


def unread(recorded: list[str], readers: dict[str, str]) -> list[str]:
    """The names of ``recorded`` that no reader but their own rule names."""
    missing = []
    for name in recorded:
        pattern = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
        if not any(pattern.search(expr) for where, expr in readers.items() if where != f"rule {name}"):
            missing.append(name)
    return missing


def test_the_check_sees_a_rule_that_only_its_own_rule_names() -> None:
    readers = {"rule job:x:rate1m": "sum(rate(x[1m]))", "rule A": "job:x_y:rate1m > 0 or job:x:rate1m5"}
    assert unread(["job:x:rate1m", "job:x_y:rate1m"], readers) == ["job:x:rate1m"]


def test_every_recording_rule_is_read_by_an_alert_a_rule_or_a_dashboard() -> None:
    recorded = [
        rule["record"]
        for path in RULES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert len(recorded) >= 10
    assert unread(recorded, _readers()) == []
