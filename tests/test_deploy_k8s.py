"""deploy/k8s: manifests valid against the Kubernetes API schemas (kubernetes-validate, strict); the
operator's CRDs (ServiceMonitor, PrometheusRule), for which it has no schema, checked against the Service
and the rule files they must agree with."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import DEPLOY, load_yaml

from pipeline.config import load_settings

K8S = DEPLOY / "k8s"
OPERATOR_API = "monitoring.coreos.com/v1"


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in _documents() if doc["kind"] == kind]
    return doc


def _validate(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_core_manifests_pass_strict_schema_validation() -> None:
    kinds = set()
    for path, doc in _documents():
        if doc["apiVersion"] == OPERATOR_API:
            continue
        try:
            _validate(doc)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']}: {exc}")
        kinds.add(doc["kind"])
    assert {"Deployment", "ConfigMap", "Service", "PersistentVolumeClaim"} <= kinds


def test_strict_validation_rejects_an_unknown_field() -> None:
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_the_configmap_is_a_valid_daemon_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(_one("ConfigMap")["data"]["config.yaml"])
    settings = load_settings(config, {})
    assert settings.metrics.port == 9108 and settings.model.registry == "/models/registry"
    deployment = _one("Deployment")["spec"]
    pod = deployment["template"]["spec"]
    # The kubelet must not kill a daemon that is still finishing its batch and committing.
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_s
    (container,) = pod["containers"]
    assert container["args"][-1] == "/etc/dhag/config.yaml"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(mounts["config"]) / "config.yaml" == Path(container["args"][-1])
    assert str(settings.model.registry).startswith(mounts["registry"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == settings.metrics.port


def test_the_deployment_runs_several_non_root_replicas_with_probes() -> None:
    spec = _one("Deployment")["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics", probe
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes["registry"]["persistentVolumeClaim"]["claimName"]
        == _one("PersistentVolumeClaim")["metadata"]["name"]
    )
    assert volumes["config"]["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_service_and_servicemonitor_select_the_daemons_as_the_rules_job() -> None:
    service, monitor = _one("Service"), _one("ServiceMonitor")
    pod_labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # The operator names the job after the Service; the alert rules select job="dhag-pipeline".
    assert service["metadata"]["name"] == "dhag-pipeline"
    jobs = {c["job_name"] for c in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]}
    assert service["metadata"]["name"] in jobs
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}


def test_the_prometheusrule_carries_exactly_the_rule_files() -> None:
    rule = _one("PrometheusRule")
    groups = [
        group
        for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
    ]
    assert rule["apiVersion"] == OPERATOR_API and rule["spec"]["groups"] == groups
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
