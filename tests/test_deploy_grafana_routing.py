"""deploy/grafana's contact points and notification policy: consistent, and routing and grouping every
alert as deploy/alertmanager does (operators run either delivery path)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_support import DEPLOY, load_yaml

CONTACT_POINTS = DEPLOY / "grafana" / "provisioning" / "alerting" / "contact-points.yaml"
MATCH_OPERATORS = {"=", "!=", "=~", "!~"}
# Grafana's own label of the folder its rules are in: one folder, so grouping by it changes nothing.
GRAFANA_ONLY = {"grafana_folder"}


def test_contact_points_and_policies_are_consistent() -> None:
    provisioned = load_yaml(CONTACT_POINTS)
    assert provisioned["apiVersion"] == 1
    names = set()
    for point in provisioned["contactPoints"]:
        assert {"orgId", "name", "receivers"} <= set(point)
        names.add(point["name"])
        for receiver in point["receivers"]:
            assert {"uid", "type", "settings"} <= set(receiver) and receiver["settings"]["url"]

    def walk(route: dict[str, Any]) -> None:
        assert route["receiver"] in names, route["receiver"]
        for matcher in route.get("object_matchers", []):
            label, operator, _value = matcher
            assert operator in MATCH_OPERATORS, matcher
        for child in route.get("routes", []):
            walk(child)

    (policy,) = provisioned["policies"]
    walk(policy)


def _matches(labels: dict[str, str], label: str, operator: str, value: str) -> bool:
    have = labels.get(label, "")
    found = re.fullmatch(value, have) is not None if "~" in operator else have == value
    return found != operator.startswith("!")


def _route(
    route: dict[str, Any], labels: dict[str, str], matchers: Any, group_by: frozenset[str] = frozenset()
) -> tuple[str, frozenset[str]]:
    """The receiver ``route`` (first matching child, no ``continue``) sends ``labels`` to, and the
    labels that notification is grouped by (a route without group_by inherits its parent's)."""
    group_by = frozenset(route.get("group_by", group_by))
    for child in route.get("routes", []):
        if all(_matches(labels, *m) for m in matchers(child)):
            return _route(child, labels, matchers, group_by)
    return route["receiver"], group_by


def _routes(labels: dict[str, str]) -> tuple[tuple[str, frozenset[str]], tuple[str, frozenset[str]]]:
    """Where Grafana's policy and Alertmanager's route send ``labels``: (receiver, group_by) each."""
    (policy,) = load_yaml(CONTACT_POINTS)["policies"]
    grafana = _route(policy, labels, lambda r: r.get("object_matchers", []))

    def parsed(route: dict[str, Any]) -> list[tuple[str, ...]]:
        return [re.fullmatch(r'(\w+)\s*(=~|!~|!=|=)\s*"(.*)"', m).groups() for m in route.get("matchers", [])]

    manager = _route(load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")["route"], labels, parsed)
    return grafana, manager


ALERTS = (
    [
        {"alertname": alertname, "severity": "critical", "asset_group": group}
        for alertname in ("DhagAssetAnomalous", "DhagManyAssetsAnomalous")
        for group in ("pump", "compressor", "fan", "valve", "")
    ]
    + [
        {"alertname": alertname, "severity": "warning", "asset_group": group}
        for alertname in ("DhagAssetSilent", "DhagAssetClockSkewed")
        for group in ("pump", "fan", "valve")
    ]
    + [
        {"alertname": alertname, "severity": "warning"}
        for alertname in ("DhagReadingsMisdated", "DhagAssetSilentInFault")
    ]
    + [{"alertname": "DhagAssetsAnomalousUnlisted", "severity": "critical"}]
    + [{"alertname": "DhagDaemonDown", "severity": s} for s in ("critical", "warning", "info")]
    + [{"alertname": "DhagWatchdog", "severity": "none"}]
)


@pytest.mark.parametrize("labels", ALERTS)
def test_grafana_routes_every_alert_as_alertmanager_does(labels: dict[str, str]) -> None:
    # Operators pick either delivery path; an alert must reach the same team on both.
    (grafana, _), (manager, _) = _routes(labels)
    assert grafana == manager, labels


@pytest.mark.parametrize("labels", ALERTS)
def test_grafana_groups_every_alert_as_alertmanager_does(labels: dict[str, str]) -> None:
    # The same notifications on both: each plant (namespace, job) and each asset group pages on its
    # own, never held back for another's group_interval.
    (_, grafana), (_, manager) = _routes(labels)
    assert grafana - GRAFANA_ONLY == manager, labels
    assert {"alertname", "namespace", "job"} <= manager, labels
