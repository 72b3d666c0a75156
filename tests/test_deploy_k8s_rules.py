"""deploy/k8s-rules: the PrometheusRule, applied once per Prometheus; its rules read every plant's
namespace, so deploy/k8s (and its GPU overlay), applied in each plant's namespace, hold none."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from deploy_support import DEPLOY, REPO, RULES, load_yaml
from test_deploy_gpu import _rendered

K8S, K8S_GPU, K8S_RULES = DEPLOY / "k8s", DEPLOY / "k8s-gpu", DEPLOY / "k8s-rules"
# A label matcher on the namespace: a rule that had one would see its own plant only.
_NAMESPACE_MATCHER = re.compile(r"\bnamespace\s*(?:=~|!~|!=|=)\s*[\"'`]")


def _applied(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -f folder`` creates (it reads .yaml, .yml and .json files)."""
    paths = [path for path in sorted(folder.iterdir()) if path.suffix in {".yaml", ".yml", ".json"}]
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_the_check_sees_a_rule_narrowed_to_a_namespace() -> None:
    assert _NAMESPACE_MATCHER.search('up{job="dhag-pipeline", namespace="plant-a"} == 0')
    assert _NAMESPACE_MATCHER.search("sum(x{namespace=~'plant-.*'})")
    assert not _NAMESPACE_MATCHER.search("max without (instance) (x) unless on (namespace, job) y")


def test_every_rule_reads_every_plant_so_one_copy_serves_them_all() -> None:
    # The rules keep the namespace (test_deploy_rule_labels.py) but select none: one copy evaluates
    # every plant apart, and a copy per plant evaluated each rule once per plant over all of them.
    exprs = [rule["expr"] for path in RULES for g in load_yaml(path)["groups"] for rule in g["rules"]]
    assert len(exprs) >= 20
    assert [expr for expr in exprs if _NAMESPACE_MATCHER.search(expr)] == []


def test_the_per_plant_manifests_hold_no_prometheusrule() -> None:
    # Before, deploy/k8s held it: `kubectl apply -n NAMESPACE -f deploy/k8s/` once per plant put a
    # copy in every plant's namespace, and kube-prometheus-stack's Prometheus loads the rules of every
    # namespace: each recording rule wrote its series once per plant, each alert was evaluated as often.
    for docs in (_applied(K8S), _rendered(K8S), _rendered(K8S_GPU)):
        kinds = {doc["kind"] for doc in docs}
        assert "PrometheusRule" not in kinds and {"Deployment", "ServiceMonitor"} <= kinds


def test_the_rules_folder_holds_the_prometheusrule_alone_and_says_to_apply_it_once() -> None:
    (rule,) = _applied(K8S_RULES)
    assert rule["kind"] == "PrometheusRule" and [path.name for path in K8S_RULES.iterdir()] == [
        "prometheusrule.yaml"
    ]
    # No namespace of its own: it goes where `kubectl apply -n` puts it, the Prometheus's.
    assert "namespace" not in rule["metadata"]
    header = (K8S_RULES / "prometheusrule.yaml").read_text().split("\napiVersion:")[0]
    assert "once per Prometheus, not per plant" in header
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert "kubectl apply -n NAMESPACE -f deploy/k8s/" in deploy
    assert "kubectl apply -n MONITORING_NAMESPACE -f deploy/k8s-rules/" in deploy
