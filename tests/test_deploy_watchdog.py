"""DhagWatchdog, the alerting path's heartbeat: always firing (its promtool cases are in
dhag-watchdog-test.yml), routed to the dead-man's-switch receiver alone, often enough for that service
to notice its absence, and neither inhibiting nor inhibited in a real Alertmanager."""

from __future__ import annotations

import re

import pytest
from deploy_support import DEPLOY, RUNBOOKS, WATCHDOG, alert_rules, load_yaml, run, selectors, tool
from test_deploy_inhibit import _post, alertmanager  # noqa: F401 (the fixture, a real Alertmanager: its parameter below is it)

ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
CONTACT_POINTS = DEPLOY / "grafana" / "provisioning" / "alerting" / "contact-points.yaml"
RECEIVER = "dead-mans-switch"
# The heartbeat period the runbook tells to set at the service: a notification at least this often.
PERIOD_S = 5 * 60


def _watchdog() -> dict:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == WATCHDOG]
    return rule


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)([smh])", duration))


def _receiver(labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager's example routing sends ``labels`` to (amtool)."""
    pairs = [f"{name}={value}" for name, value in labels.items()]
    result = run([tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *pairs])
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()


def test_the_watchdog_reads_no_series_and_waits_for_nothing() -> None:
    # It must fire with no target scraped, no recording rule evaluated, from the first evaluation on.
    rule = _watchdog()
    assert selectors(rule["expr"]) == [] and "for" not in rule
    assert rule["labels"] == {"severity": "none"}
    assert (RUNBOOKS / f"{WATCHDOG}.md").is_file()


def test_the_watchdog_goes_to_the_dead_mans_switch_alone() -> None:
    assert _receiver({"alertname": WATCHDOG, "severity": "none"}) == [RECEIVER]
    # Whatever labels a Prometheus adds to it (an external label, a namespace the operator enforces).
    assert _receiver({"alertname": WATCHDOG, "severity": "none", "namespace": "monitoring"}) == [RECEIVER]


OTHERS = [rule for rule in alert_rules() if rule["alert"] != WATCHDOG]


@pytest.mark.parametrize("rule", OTHERS, ids=lambda rule: rule["alert"])
def test_no_other_alert_goes_to_the_dead_mans_switch(rule: dict) -> None:
    # An alert there would ping the heartbeat service, and reach no one.
    assert RECEIVER not in _receiver({"alertname": rule["alert"], **rule["labels"]})


def test_the_heartbeat_repeats_within_its_period_and_sends_no_resolved_notification() -> None:
    config = load_yaml(ALERTMANAGER)
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == RECEIVER]
    # Resent at the first group_interval tick after repeat_interval: both within the period.
    assert _seconds(route["repeat_interval"]) + _seconds(route["group_interval"]) <= PERIOD_S + 60
    assert _seconds(route["group_interval"]) <= 60
    (receiver,) = [r for r in config["receivers"] if r["name"] == RECEIVER]
    assert [hook["send_resolved"] for hook in receiver["webhook_configs"]] == [False]
    # Grafana's contact point and policy alike.
    provisioned = load_yaml(CONTACT_POINTS)
    (point,) = [p for p in provisioned["contactPoints"] if p["name"] == RECEIVER]
    assert [r["disableResolveMessage"] for r in point["receivers"]] == [True]
    (policy,) = provisioned["policies"]
    (grafana,) = [r for r in policy["routes"] if r["receiver"] == RECEIVER]
    assert grafana["object_matchers"] == [["alertname", "=", WATCHDOG]]
    assert (grafana["group_interval"], grafana["repeat_interval"]) == (
        route["group_interval"],
        route["repeat_interval"],
    )


def _inhibit_names(side: str) -> set[str]:
    """The alert names the example inhibit rules name on ``side`` (source or target)."""
    names = set()
    for rule in load_yaml(ALERTMANAGER)["inhibit_rules"]:
        for matcher in rule[f"{side}_matchers"]:
            if found := re.fullmatch(r'alertname\s*=~?\s*"(.*)"', matcher):
                names.update(found.group(1).split("|"))
    return names


def _alert(name: str, **labels: str) -> dict[str, str]:
    """An alert of rule ``name`` with its rule's labels, the labels the inhibit rules match on set as
    on compose (no namespace) and those they select by as a source needs them."""
    (rule,) = [r for r in alert_rules() if r["alert"] == name]
    return {"alertname": name, **rule["labels"], "job": "dhag-pipeline"} | labels


def test_the_watchdog_inhibits_nothing(alertmanager: str) -> None:  # noqa: F811
    # With no namespace or job of its own, a watchdog as a source would match every target of the
    # same (none) under compose: their pages would stop while it fires, which is always.
    targets = sorted(_inhibit_names("target") - _inhibit_names("source"))
    assert {"DhagAssetSilent", "DhagAssetAnomalous", "DhagReadingsMisdated"} <= set(targets)
    alerts = [{"alertname": WATCHDOG, "severity": "none"}]
    alerts += [_alert(name, asset_group="pump", asset="pump-01") for name in targets]
    inhibited = [a["labels"]["alertname"] for a in _post(alertmanager, alerts) if a["status"]["inhibitedBy"]]
    assert inhibited == []


def test_nothing_inhibits_the_watchdog(alertmanager: str) -> None:  # noqa: F811
    # Every source of the example's inhibit rules fires, with the labels that hold back the most
    # (none of a plant, a plant-wide DhagManyAssetsAnomalous, a clock marked misdated): the watchdog
    # still notifies, or the heartbeat would stop while the path works.
    sources = sorted(_inhibit_names("source"))
    assert {"DhagPipelineAbsent", "DhagManyAssetsAnomalous", "DhagKafkaUnreachable"} <= set(sources)
    alerts = [_alert(name, readings="misdated") for name in sources]
    listed = _post(alertmanager, [*alerts, {"alertname": WATCHDOG, "severity": "none"}])
    (watchdog,) = [a for a in listed if a["labels"]["alertname"] == WATCHDOG]
    assert watchdog["status"]["inhibitedBy"] == [] and watchdog["status"]["state"] == "active"
    # The sources do hold back what they should: the check can see an inhibition.
    assert any(a["status"]["inhibitedBy"] for a in listed)
