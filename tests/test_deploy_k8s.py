"""deploy/k8s: manifests valid against the Kubernetes API schemas (kubernetes-validate, strict); the
operator's CRDs (ServiceMonitor, PrometheusRule), for which it has no schema, checked against the Service
and the rule files they must agree with."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import DEPLOY, RULES, load_yaml

from pipeline.config import Settings, load_settings

K8S = DEPLOY / "k8s"
K8S_RULES = DEPLOY / "k8s-rules"  # applied once per Prometheus (test_deploy_k8s_rules.py)
OPERATOR_API = "monitoring.coreos.com/v1"


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in [*sorted(K8S.glob("*.yaml")), *sorted(K8S_RULES.glob("*.yaml"))]
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest of ``kind`` (named ``name``, where several of that kind exist)."""
    (doc,) = [
        doc for _, doc in _documents() if doc["kind"] == kind and name in (None, doc["metadata"]["name"])
    ]
    return doc


def _settings(tmp_path: Path) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(_one("ConfigMap")["data"]["config.yaml"])
    return load_settings(config, {})


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
    deployment = copy.deepcopy(_one("Deployment", "dhag-pipeline"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_the_configmap_is_a_valid_daemon_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.metrics.port == 9108 and settings.model.registry == "/models/registry"
    assert settings.metrics.host == "0.0.0.0"  # Prometheus and the kubelet's probes reach the pod's address
    deployment = _one("Deployment", "dhag-pipeline")["spec"]
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
    spec = _one("Deployment", "dhag-pipeline")["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics", probe
    # /metrics answers whatever the daemon's state: the probes ask the daemon (pipeline/probes.py), and
    # no replica goes before its successor is ready.
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes["registry"]["persistentVolumeClaim"]["claimName"]
        == _one("PersistentVolumeClaim")["metadata"]["name"]
    )
    assert volumes["config"]["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_the_retrainer_is_a_non_root_singleton_sharing_the_registry(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    spec = _one("StatefulSet", "dhag-retrainer")["spec"]
    # Never two retrainers on one registry: not during a rollout, nor after a node stops answering
    # (a StatefulSet starts the successor only once the old pod is gone; a Deployment would not wait).
    assert spec["replicas"] == 1 and spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert spec["serviceName"] == _one("Service", "dhag-retrainer")["metadata"]["name"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_grace_s
    (container,) = pod["containers"]
    assert (
        container["args"][:2] == ["retrain", "--watch"] and container["args"][-1] == "/etc/dhag/config.yaml"
    )
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == settings.retrain.metrics_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics", probe
    # The same claim and mount path as the daemons, so model.registry names one folder for both; writable.
    daemon_pod = _one("Deployment", "dhag-pipeline")["spec"]["template"]["spec"]
    for pod_spec in (pod, daemon_pod):
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        claim = volumes["registry"]["persistentVolumeClaim"]["claimName"]
        assert claim == _one("PersistentVolumeClaim")["metadata"]["name"]
        assert volumes["config"]["configMap"]["name"] == _one("ConfigMap")["metadata"]["name"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    (daemon_container,) = daemon_pod["containers"]
    daemon_mounts = {m["name"]: m for m in daemon_container["volumeMounts"]}
    assert mounts["registry"]["mountPath"] == daemon_mounts["registry"]["mountPath"]
    assert str(settings.model.registry).startswith(mounts["registry"]["mountPath"])
    assert not mounts["registry"].get("readOnly", False)
    assert "ReadWriteMany" in _one("PersistentVolumeClaim")["spec"]["accessModes"]
    # One signing key for both: the retrainer signs what it promotes, the daemons verify it.
    for variable in ("DHAG_ARTIFACT_KEY", "DHAG_ARTIFACT_PREVIOUS_KEY"):  # and the same one during a rotation
        keys = [{e["name"]: e for e in c.get("env", [])}.get(variable) for c in (container, daemon_container)]
        assert keys[0] is not None and keys[0] == keys[1]
        assert keys[0]["valueFrom"]["secretKeyRef"]["optional"] is True  # no Secret: no signing, as before


@pytest.mark.parametrize(
    ("name", "kind"), [("dhag-pipeline", "Deployment"), ("dhag-retrainer", "StatefulSet")]
)
def test_service_and_servicemonitor_select_the_pods_as_the_rules_job(name: str, kind: str) -> None:
    service, monitor = _one("Service", name), _one("ServiceMonitor", name)
    pod_labels = _one(kind, name)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items(), kind
    # The operator names the job after the Service; the alert rules select job="<name>".
    jobs = {c["job_name"] for c in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]}
    assert name in jobs
    rules = " ".join(rule["expr"] for path in RULES for g in load_yaml(path)["groups"] for rule in g["rules"])
    assert f'job="{name}"' in rules
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # Each monitor selects its own Service only.
    others = [d for _, d in _documents() if d["kind"] == "Service" and d["metadata"]["name"] != name]
    assert not [
        d
        for d in others
        if monitor["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()
    ]
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
    assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}


def test_the_replica_count_rules_read_the_daemons_deployment() -> None:
    # kube-state-metrics names the workload by kind and name: kube_deployment_spec_replicas{deployment=...}
    # of the daemons' workload (a StatefulSet would be kube_statefulset_replicas{statefulset=...}).
    service = _one("Service", "dhag-pipeline")  # the job the rules select
    (workload,) = [
        d
        for _, d in _documents()
        if d["kind"] in {"Deployment", "StatefulSet"}
        and service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert workload["kind"] == "Deployment"
    selector = f'kube_deployment_spec_replicas{{deployment="{workload["metadata"]["name"]}"}}'
    exprs = {
        rule["alert"]: rule["expr"]
        for path in RULES
        for g in load_yaml(path)["groups"]
        for rule in g["rules"]
        if "alert" in rule
    }
    assert exprs["DhagDaemonReplicasMissing"].count(selector) == 2
    # One warning, never two, also while kube-state-metrics is away for less than the hour it looks back.
    assert f"unless on (namespace) last_over_time({selector}[1h])" in exprs["DhagDaemonMissing"]
    # A Deployment scaled to 0 on purpose is not a missing pipeline.
    assert f"unless on (namespace) ({selector} == 0)" in exprs["DhagPipelineAbsent"]
    assert f"unless on () (max({selector}) == 0)" in exprs["DhagPipelineAbsent"]
    # Nor a retrainer scaled to 0: its workload, a StatefulSet, under the name kube-state-metrics gives it.
    retrainer_service = _one("Service", "dhag-retrainer")
    (retrainer,) = [
        d
        for _, d in _documents()
        if d["kind"] in {"Deployment", "StatefulSet"}
        and retrainer_service["spec"]["selector"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert retrainer["kind"] == "StatefulSet"
    replicas = f'kube_statefulset_replicas{{statefulset="{retrainer["metadata"]["name"]}"}}'
    assert f"unless on (namespace) ({replicas} == 0)" in exprs["DhagRetrainerDown"]
    assert f"unless on () (max({replicas}) == 0)" in exprs["DhagRetrainerDown"]


def test_the_prometheusrule_carries_exactly_the_rule_files() -> None:
    rule = _one("PrometheusRule")
    groups = [
        group
        for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
        for group in load_yaml(path)["groups"]
    ]
    assert rule["apiVersion"] == OPERATOR_API and rule["spec"]["groups"] == groups
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}


def test_every_pod_is_locked_down_and_takes_its_secrets_from_secrets(tmp_path: Path) -> None:
    # Before: each pod got the namespace's service-account token mounted, which none of them uses: a
    # process taken over could call the Kubernetes API with it.
    pods = [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for _, doc in _documents()
        if doc["kind"] in ("Deployment", "StatefulSet")
    ]
    assert {name for name, _ in pods} >= {"dhag-pipeline", "dhag-retrainer", "dhag-toolbox"}
    for name, pod in pods:
        assert pod.get("automountServiceAccountToken") is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            for variable in container.get("env", []):  # a key or password: from a Secret, never written here
                if any(word in variable["name"] for word in ("KEY", "PASSWORD", "TOKEN")):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (name, variable["name"])
    security = _settings(tmp_path).kafka.security
    assert security.sasl_plain_password is None and security.ssl_password is None  # not in the ConfigMap


def test_every_pod_runs_one_pinned_image_of_this_release() -> None:
    # Before, "dhag-monitor:latest" with imagePullPolicy IfNotPresent: a new :latest was never pulled
    # on nodes that had one, so daemons and retrainer could run different code and artifact formats.
    images = {
        c["image"]
        for _, doc in _documents()
        if doc["kind"] in ("Deployment", "StatefulSet")
        for c in doc["spec"]["template"]["spec"]["containers"]
    }
    (image,) = images
    name, tag = image.rsplit(":", 1)
    version = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["version"]
    assert "/" in name and tag == version  # a registry's image of this release, not a moving tag


def test_the_toolbox_can_publish_a_model_where_no_other_pod_can(tmp_path: Path) -> None:
    # The daemons mount the registry read-only and the retrainer exits without a current model: on a
    # fresh install nothing could publish the first model, nor repair a registry whose model broke.
    settings = _settings(tmp_path)
    spec = _one("Deployment", "dhag-toolbox")["spec"]
    assert spec["replicas"] == 0  # idle until an operator needs it
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    (retrainer,) = _one("StatefulSet", "dhag-retrainer")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == retrainer["image"] and container["env"] == retrainer["env"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert not mounts["registry"].get("readOnly", False)
    assert str(settings.model.registry).startswith(mounts["registry"]["mountPath"])
    assert mounts["config"]["mountPath"] == "/etc/dhag"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert (
        volumes["registry"]["persistentVolumeClaim"]["claimName"]
        == _one("PersistentVolumeClaim")["metadata"]["name"]
    )
    # It idles until exec'd into, and ends on SIGTERM itself (as PID 1, the default would be ignored).
    command = container["command"]
    assert command[:2] == ["python", "-c"] and "SIGTERM" in command[2] and "pause" in command[2]


def _bytes(quantity: str) -> float:
    """A Kubernetes memory quantity (``2Gi``, ``512Mi``, ``3G``) in bytes."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity.removesuffix(suffix)) * factor
    return float(quantity)


# The peak memory of `models train` on a CSV history of 3 million rows (docs/service-reference.md,
# "The history file").
TRAIN_PEAK_BYTES = 2.3e9


def test_the_toolbox_has_the_memory_to_train_the_first_model_from_a_history() -> None:
    # Before, it had a daemon's 2Gi limit: `models train` on a history of 3 million rows peaks at 2.3 GB,
    # so the first model of a plant with such a history, which only the toolbox can train, was killed
    # (137, OOMKilled) partway, with less memory than the retrainer has to train a candidate.
    (toolbox,) = _one("Deployment", "dhag-toolbox")["spec"]["template"]["spec"]["containers"]
    (retrainer,) = _one("StatefulSet", "dhag-retrainer")["spec"]["template"]["spec"]["containers"]
    limit = _bytes(toolbox["resources"]["limits"]["memory"])
    assert limit >= 1.5 * TRAIN_PEAK_BYTES  # with room for a larger history than that
    assert limit >= _bytes(retrainer["resources"]["limits"]["memory"])
    assert _bytes(toolbox["resources"]["requests"]["memory"]) <= limit
    assert _bytes("512Mi") == 2**29 and _bytes("3G") == 3e9


def test_the_commands_docs_run_in_a_pod_read_its_configmap() -> None:
    # A command exec'd in a pod without --config reads the image's /app/config.yaml, not the plant's
    # ConfigMap: before, DhagModelReloadFailing's runbook rolled back with `kubectl exec
    # sts/dhag-retrainer -- dhag-pipeline models rollback`, which acts on the image's default registry
    # (/models/registry) whatever model.registry the ConfigMap names.
    (retrainer,) = _one("StatefulSet", "dhag-retrainer")["spec"]["template"]["spec"]["containers"]
    config = retrainer["args"][retrainer["args"].index("--config") + 1]
    docs = [DEPLOY.parent / "README.md", *sorted((DEPLOY.parent / "docs").rglob("*.md"))]
    execs = [
        (path.name, " ".join(match.split()))
        for path in docs
        for match in re.findall(r"kubectl exec [^`]*?-- dhag-pipeline [^`]*", path.read_text())
    ]
    assert len(execs) >= 2, execs
    for name, command in execs:
        assert f"--config {config}" in command, f"{name}: {command}"


def test_the_monitors_and_rules_carry_the_label_kube_prometheus_stack_selects() -> None:
    # Before, none had a `release` label: kube-prometheus-stack's Prometheus selects ServiceMonitors and
    # PrometheusRules by `release: <its Helm release>` unless told otherwise, so it neither scraped the
    # daemons nor loaded a single alert, silently.
    monitoring = [d for _, d in _documents() if d["apiVersion"] == OPERATOR_API]
    assert {d["kind"] for d in monitoring} == {"ServiceMonitor", "PrometheusRule"}
    releases = {d["metadata"]["labels"].get("release") for d in monitoring}
    assert len(monitoring) == 3  # the two ServiceMonitors and the PrometheusRule
    (release,) = releases
    assert release == "kube-prometheus-stack"  # the chart's release name in its own install command
    # The deployment page says where it is set and how to do without it.
    readme = (DEPLOY.parent / "docs" / "deploy.md").read_text()
    assert f"release: {release}" in readme and "serviceMonitorSelectorNilUsesHelmValues" in readme


def test_the_readwriteonce_alternative_in_the_claims_comment_keeps_every_pod_of_the_volume_together() -> None:
    # Many storage classes offer no ReadWriteMany; registry-pvc.yaml documents running on ReadWriteOnce
    # with every pod that mounts the registry on one node. The scheduler does not keep them together
    # for a ReadWriteOnce volume, so each of them must carry the affinity and each must be matched by
    # it: a retrainer left free was recreated by a rollout on any node and hung on a Multi-Attach
    # error, and a toolbox that followed the retrainer alone could not start with it scaled to 0.
    text = (K8S / "registry-pvc.yaml").read_text()
    snippet = yaml.safe_load("\n".join(line[4:] for line in text.splitlines() if line.startswith("#   ")))
    (term,) = snippet["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    claim = _one("PersistentVolumeClaim")
    mounting = [
        (path, doc)
        for path, doc in _documents()
        if doc["kind"] in ("Deployment", "StatefulSet")
        and any(
            (volume.get("persistentVolumeClaim") or {}).get("claimName") == claim["metadata"]["name"]
            for volume in doc["spec"]["template"]["spec"].get("volumes", [])
        )
    ]
    assert {doc["metadata"]["name"] for _, doc in mounting} == {
        "dhag-pipeline",
        "dhag-retrainer",
        "dhag-toolbox",
    }
    for path, doc in mounting:
        assert path.name in text  # the comment says to put it there
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert term["labelSelector"]["matchLabels"].items() <= labels.items()
        workload = copy.deepcopy(doc)
        workload["spec"]["template"]["spec"].update(snippet)
        _validate(workload)
    claim = copy.deepcopy(claim)
    claim["spec"]["accessModes"] = ["ReadWriteOnce"]
    _validate(claim)
