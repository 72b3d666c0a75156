"""deploy/prometheus/rules keep the labels that tell plants apart: two plants may share a Prometheus
and the job name (a namespace each), and Alertmanager groups, routes and inhibits by the namespace."""

from __future__ import annotations

import re

from deploy_support import RULES, WATCHDOG, alert_rules, load_yaml

# An aggregation's `by (...)` clause: the labels it keeps.
_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def _kept_by(expr: str) -> list[set[str]]:
    """The label sets of every ``by (...)`` clause of ``expr``."""
    return [{label.strip() for label in labels.split(",") if label.strip()} for labels in _BY.findall(expr)]


def test_the_check_sees_an_aggregation_that_drops_the_namespace() -> None:
    assert _kept_by("sum by (instance, job) (x) or max by (namespace) (y)") == [
        {"instance", "job"},
        {"namespace"},
    ]
    assert _kept_by("sum without (instance) (x)") == []


def test_no_rule_aggregates_the_namespace_away() -> None:
    # `sum by (instance, job)` merges two plants' series of one instance name (compose: the same
    # container address in two projects) and, above all, strips the namespace the alert is grouped,
    # routed and inhibited by (and the pod the operator looks for): aggregate `without` the target's
    # own labels instead, or keep the namespace.
    seen = 0
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                for kept in _kept_by(rule["expr"]):
                    seen += 1
                    name = rule.get("alert") or rule.get("record")
                    clause = ", ".join(sorted(kept))
                    assert "namespace" in kept, f"{name}: `by ({clause})` drops the namespace"
    assert seen, "no `by` clause found: the check checks nothing"


# A vector match's `on (...)` clause: the labels two sides are matched by. (`ignoring (...)` keeps
# the namespace: the rules ignore only the target's own labels and the asset's.)
_ON = re.compile(r"\bon\s*\(([^)]*)\)")


def _matched_on(expr: str) -> list[set[str]]:
    """The label sets of every ``on (...)`` clause of ``expr``."""
    return [{label.strip() for label in labels.split(",") if label.strip()} for labels in _ON.findall(expr)]


def test_the_check_sees_a_match_that_ignores_the_namespace() -> None:
    expr = "a and on (instance, job) b unless on(namespace, job) c > ignoring (pod) group_left d"
    assert _matched_on(expr) == [{"instance", "job"}, {"namespace", "job"}]
    assert _matched_on("a unless on () max(b) == 0") == [set()]


def test_every_match_of_two_daemons_series_keeps_the_plant() -> None:
    # A pod IP is used again in another namespace and a compose address repeats across sites: matched
    # on job and address alone, another plant's daemon at the same address satisfies the other side
    # and holds back, or raises, this plant's alert. `on ()` matches a single series left of every
    # label (an aggregation over all plants), which has no plant to keep.
    seen = 0
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                for matched in _matched_on(rule["expr"]):
                    seen += 1
                    name = rule.get("alert") or rule.get("record")
                    clause = ", ".join(sorted(matched))
                    assert not matched or "namespace" in matched, (
                        f"{name}: `on ({clause})` matches across plants"
                    )
    assert seen, "no `on` clause found: the check checks nothing"


# How a per-daemon alert names its daemon: on Kubernetes the pod and its namespace before the target's
# address (a pod IP and port, which says nothing to whoever is paged); under compose, which has neither
# label, the address alone. An alert whose series lost the pod (aggregated away) names the namespace.
DAEMON = (
    "{{ with $labels.pod }}{{ . }} ({{ with $labels.namespace }}namespace {{ . }}, {{ end }}"
    "{{ $labels.instance }}){{ else }}{{ $labels.instance }}"
    "{{ with $labels.namespace }} (namespace {{ . }}){{ end }}{{ end }}"
)


def test_per_daemon_summaries_name_the_pod_and_namespace_where_present() -> None:
    # The promtool cases render it both ways (dhag-daemon-names-test.yml with the pod and namespace,
    # the others with the address alone); this holds every per-daemon summary to the same template.
    per_daemon = []
    for path in RULES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                summary = rule.get("annotations", {}).get("summary", "")
                if "$labels.instance" in summary:
                    per_daemon.append(rule["alert"])
                    assert DAEMON in summary, f"{rule['alert']}: summary names the address alone"
                    assert summary.count("$labels.instance") == 2, f"{rule['alert']}: address named twice"
    assert "DhagKafkaUnreachable" in per_daemon and "DhagDaemonDown" in per_daemon


# An aggregation `without (...)` that drops the pod but keeps the address (instance).
_DROPS_POD = re.compile(r"\bwithout\s*\((?![^)]*\binstance\b)[^)]*\bpod\b[^)]*\)")


def test_the_check_sees_an_aggregation_that_keeps_the_address_and_drops_the_pod() -> None:
    assert _DROPS_POD.search("max without (pod, container, endpoint) (x) > 0")
    assert not _DROPS_POD.search("max without (instance, pod, container, endpoint) (x)")
    assert not _DROPS_POD.search("sum without (operation) (increase(x[1h]))")


def test_a_per_daemon_alert_keeps_the_pod_it_names() -> None:
    # Before, DhagAssetsAnomalousUnlisted took `max without (pod, container, endpoint)`: still one
    # alert per daemon address, but on Kubernetes its summary named the pod IP, the one label of
    # the daemon nobody who is paged can look up.
    for rule in alert_rules():
        if DAEMON in rule["annotations"]["summary"]:
            assert not _DROPS_POD.search(rule["expr"]), f"{rule['alert']}: names the address, drops the pod"


# How a per-daemon alert's description names its daemon: the pod, else (compose) the address.
DAEMON_NAME = "{{ or $labels.pod $labels.instance }}"


def test_per_daemon_descriptions_name_the_pod_where_present() -> None:
    # Before, every per-daemon description but one said "The scoring daemon {{ $labels.instance }}":
    # on Kubernetes a pod IP and port, below a summary that named the pod.
    described = []
    for rule in alert_rules():
        if DAEMON in rule["annotations"]["summary"]:
            description = rule["annotations"]["description"]
            assert "$labels.instance" not in description.replace(DAEMON_NAME, ""), rule["alert"]
            described += [rule["alert"]] if DAEMON_NAME in description else []
    assert "DhagDaemonDown" in described and "DhagKafkaUnreachable" in described


# How a per-asset alert's summary names the asset's plant: its namespace where its series carry one
# (none under compose, where the summary names the asset alone).
PLANT = "{{ with $labels.namespace }} (namespace {{ . }}){{ end }}"


def test_per_asset_summaries_name_the_plant_where_present() -> None:
    # Before, DhagAssetAnomalous paged "Asset pump-07 is behaving abnormally" for either of two plants
    # that share a Prometheus and an asset id (ids are each plant's own: pump-07 in both),
    # and DhagAssetSilent and DhagAssetClockSkewed warned alike: the page did not say where to go.
    per_asset = []
    for rule in alert_rules():
        summary = rule["annotations"]["summary"]
        if "$labels.asset " in summary:
            per_asset.append(rule["alert"])
            assert "{{ $labels.asset }}" + PLANT in summary, f"{rule['alert']}: names no plant"
    assert {"DhagAssetAnomalous", "DhagAssetSilent", "DhagAssetClockSkewed"} <= set(per_asset)


# How an alert of a whole job (its series summed over the daemons, or the retrainer's) names its plant:
# the job, then its namespace where its series carry one (none under compose: the job alone).
JOB = "{{ $labels.job }}" + PLANT
# Where else a summary says which plant: a deployment with no target (the namespace where its `up`
# had one, none when the job has had no target at all), and the replicas a namespace's Deployment lacks.
WHERE = (
    DAEMON,
    "{{ $labels.asset }}" + PLANT,
    JOB,
    "{{ with $labels.namespace }} in namespace {{ . }}{{ end }}",
    "in namespace {{ $labels.namespace }}",
)


def test_every_summary_names_the_plant_where_present() -> None:
    # Before, about twenty alerts of a whole job named the job alone ("Job dhag-pipeline had output
    # records refused as too large", "The latest retraining run of dhag-retrainer failed") or nothing
    # at all ("Sensor records keyed other than by their asset_id", "5% of sensor records go to the
    # dead-letter queue"): with two plants on one Prometheus (a namespace each, the same job names)
    # the page did not say which plant's daemons or retrainer it was about.
    jobs = []
    for rule in alert_rules():
        summary = rule["annotations"]["summary"]
        if rule["alert"] == WATCHDOG:  # the alerting path's, of every plant
            continue
        assert any(where in summary for where in WHERE), f"{rule['alert']}: summary names no plant"
        if "{{ $labels.job }}" in summary:
            jobs.append(rule["alert"])
            assert JOB in summary, f"{rule['alert']}: names the job but not its plant"
    assert {"DhagDlqRatioHigh", "DhagRecordsMiskeyed", "DhagRetrainingFailing"} <= set(jobs)


# Where a description says which plant beside the job: the summaries' form, or "in namespace" after it.
JOB_DESCRIBED = (JOB, "{{ $labels.job }}{{ with $labels.namespace }} in namespace {{ . }}{{ end }}")


def test_every_description_that_names_the_job_names_its_plant() -> None:
    # Before, about twenty descriptions of a whole job's alerts named the job alone below a summary that
    # named its namespace ("The retrainer of dhag-retrainer ended its latest run with an error", "The
    # scoring daemons of job dhag-pipeline are 24.5k records behind"): a notification of two plants'
    # alerts (the same job name, a namespace each) read the same for both.
    jobs = []
    for rule in alert_rules():
        description = rule["annotations"]["description"]
        if "{{ $labels.job }}" in description:
            jobs.append(rule["alert"])
            first = description[description.index("{{ $labels.job }}") :]
            assert first.startswith(JOB_DESCRIBED), f"{rule['alert']}: names the job but not its plant"
    assert {"DhagNoReadings", "DhagDriftDetected", "DhagRetrainingFailing", "DhagLabelDlqGrowing"} <= {*jobs}
