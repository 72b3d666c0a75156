"""The retrainer on a GPU: deploy/compose.gpu.yaml over compose.yaml (``docker-compose config``) and the
kustomize overlay deploy/k8s-gpu/ over deploy/k8s/ (rendered here as kustomize does, each manifest
validated strictly; against ``kubectl kustomize`` where kubectl is installed). Each asks for a GPU and
sets the retrainer's device to cuda, which a host without CUDA refuses at start-up."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import DEPLOY, REPO, load_yaml, run, tool

from pipeline.cli import EXIT_CONFIG, main
from pipeline.config import load_settings

COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_GPU = DEPLOY / "compose.gpu.yaml"
K8S = DEPLOY / "k8s"
K8S_GPU = DEPLOY / "k8s-gpu"
SECRET = {"GRAFANA_ADMIN_PASSWORD": "a-test-secret"}
IMAGE_SERVICES = ("daemon", "retrainer", "demo-model", "simulator")  # compose's services of our image
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _resolved(*files: Path) -> dict[str, Any]:
    cmd = [tool("docker-compose")] + [arg for path in files for arg in ("-f", str(path))] + ["config"]
    result = run(cmd, cwd=DEPLOY, env=SECRET)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_the_gpu_override_is_valid_and_named_in_the_docs() -> None:
    result = run(
        [tool("docker-compose"), "-f", str(COMPOSE), "-f", str(COMPOSE_GPU), "config", "-q"],
        cwd=DEPLOY,
        env=SECRET,
    )
    assert result.returncode == 0, result.stderr
    command = "docker compose -f deploy/compose.yaml -f deploy/compose.gpu.yaml"
    assert command in COMPOSE_GPU.read_text() and command in (REPO / "docs" / "deploy.md").read_text()
    assert (
        "compose.gpu.yaml" in COMPOSE.read_text()
        and "compose.gpu.yaml" in (DEPLOY / "Dockerfile").read_text()
    )


def test_the_gpu_override_reserves_a_gpu_for_the_retrainer_and_trains_on_cuda() -> None:
    # Before, nothing in deploy/ gave a container a GPU: the CUDA image's retrainer trained on the CPU
    # (retrain.device auto) without a word.
    services = _resolved(COMPOSE, COMPOSE_GPU)["services"]
    retrainer = services["retrainer"]
    (device,) = retrainer["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == 1 and "device_ids" not in device
    settings = load_settings(REPO / "config.yaml", _env(retrainer))
    assert settings.retrain.device == "cuda"  # not auto: no GPU stops it rather than training on CPUs
    # One image for every service of it, built with CUDA torch, tagged apart from the CPU build.
    cpu = _resolved(COMPOSE)["services"]
    images = {services[name]["image"] for name in IMAGE_SERVICES}
    assert len(images) == 1 and images != {cpu["daemon"]["image"]}
    assert {services[name]["build"]["args"]["TORCH_VARIANT"] for name in IMAGE_SERVICES} == {"cu128"}
    # Only the retrainer holds the GPU; the rest is compose.yaml's as it was.
    assert [name for name, svc in services.items() if "deploy" in svc] == ["retrainer"]
    daemon = load_settings(REPO / "config.yaml", _env(services["daemon"]))
    assert daemon.model.device == "cpu"
    for name, service in services.items():
        changed = {"image", "build", "deploy", "environment"} if name in IMAGE_SERVICES else set()
        original = cpu[name]
        assert _kept(service, changed) == _kept(original, changed), name
        added = _env(service).items() - _env(original).items()
        assert added <= {("DHAG_PIPELINE_RETRAIN__DEVICE", "cuda")}, name
        assert _env(original).items() <= _env(service).items(), name


def _kept(service: dict[str, Any], changed: set[str]) -> dict[str, Any]:
    """A resolved service but for the keys ``changed``; its volumes in order (docker-compose merging
    two files lists them in another)."""
    kept = {k: v for k, v in service.items() if k not in changed}
    return kept | {"volumes": sorted(map(str, kept.get("volumes", [])))}


def _no_cuda(monkeypatch) -> None:
    """This host as one without CUDA, whatever it has."""
    import torch

    import pipeline.hostchecks

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(pipeline.hostchecks, "_cuda_devices", lambda: 0)
    for variable in [v for v in os.environ if v.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(variable)


def _refused_without_cuda(env: dict[str, str], tmp_path: Path, monkeypatch, capsys) -> None:
    """check-config and the retrainer's start, with ``env``, on a host without CUDA: both exit 2 saying
    why, before the retrainer touches its registry or Kafka."""
    # The deployment's broker (compose's environment, the ConfigMap's file): the repository's config.yaml
    # says embedded, which the retrainer refuses before its device.
    env = {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka:9092"} | env
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("DHAG_PIPELINE_MODEL__REGISTRY", str(tmp_path / "registry"))  # not there: untouched
    config = str(REPO / "config.yaml")
    assert main(["check-config", "--config", config]) == EXIT_CONFIG
    assert "config error: retrain.device: 'cuda': CUDA is not available on this host" in (
        capsys.readouterr().err
    )
    assert main(["retrain", "--watch", "--config", config]) == EXIT_CONFIG
    log = capsys.readouterr().err  # the service logs to stderr
    assert "ERROR pipeline.retrain.command: config error: retrain.device: " in log
    assert "CUDA is not available" in log
    assert not (tmp_path / "registry").exists()


def test_the_compose_retrainer_without_a_gpu_stops_at_start(tmp_path, monkeypatch, capsys) -> None:
    retrainer = _resolved(COMPOSE, COMPOSE_GPU)["services"]["retrainer"]
    _no_cuda(monkeypatch)
    env = {k: v for k, v in _env(retrainer).items() if k.startswith("DHAG_PIPELINE_RETRAIN__")}
    _refused_without_cuda(env, tmp_path, monkeypatch, capsys)


# -- Kubernetes: the overlay deploy/k8s-gpu over deploy/k8s -----------------------------------------------


def _kustomization(folder: Path) -> dict[str, Any]:
    (path,) = [folder / n for n in ("kustomization.yaml", "Kustomization") if (folder / n).exists()]
    return load_yaml(path)


def _merge(base: Any, patch: Any) -> Any:
    """``patch`` merged into ``base`` as a strategic-merge patch of these manifests: maps key by key,
    lists of named items (containers, env, ports, volumes) item by name, other lists replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {k: _merge(base[k], v) if k in base else v for k, v in patch.items()} | {
            k: v for k, v in base.items() if k not in patch
        }
    named = isinstance(base, list) and isinstance(patch, list)
    if named and all(isinstance(i, dict) and "name" in i for i in base + patch):
        patched = {item["name"]: item for item in patch}
        merged = [
            _merge(item, patched.pop(item["name"])) if item["name"] in patched else item for item in base
        ]
        return list(patched.values()) + merged  # kustomize puts the new items first
    return copy.deepcopy(patch)


def _rendered(folder: Path) -> list[dict[str, Any]]:
    """The manifests ``kubectl kustomize folder`` makes of these kustomizations (resources and patches)."""
    spec = _kustomization(folder)
    assert set(spec) <= {"apiVersion", "kind", "resources", "patches"}, "a field this renderer ignores"
    docs: list[dict[str, Any]] = []
    for resource in spec["resources"]:
        path = (folder / resource).resolve()
        if path.is_dir():
            docs += _rendered(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for entry in spec.get("patches", []):
        assert set(entry) == {"path"}, entry
        patch = load_yaml(folder / entry["path"])
        ident = (patch["kind"], patch["metadata"]["name"])
        (i,) = [i for i, d in enumerate(docs) if (d["kind"], d["metadata"]["name"]) == ident]
        docs[i] = _merge(docs[i], patch)
    return docs


def _retrainer(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "dhag-retrainer"]
    return doc


def test_the_base_kustomization_lists_every_manifest_and_kubectl_apply_f_skips_it() -> None:
    # An overlay's base: a manifest left out of it would be missing from a GPU install.
    spec = _kustomization(K8S)
    assert sorted(spec["resources"]) == sorted(path.name for path in K8S.glob("*.yaml"))
    # `kubectl apply -f deploy/k8s/` reads .yaml, .yml and .json files only.
    assert not (K8S / "kustomization.yaml").exists() and not (K8S / "kustomization.yml").exists()
    assert _kustomization(K8S_GPU)["resources"] == ["../k8s"]


def test_the_gpu_overlay_runs_the_retrainer_on_one_gpu_with_the_cuda_image(tmp_path, monkeypatch) -> None:
    # Before, no manifest asked for a GPU: the retrainer of a CUDA image trained on the node's CPUs.
    base, gpu = _rendered(K8S), _rendered(K8S_GPU)
    for doc in gpu:
        if not doc["apiVersion"].startswith("monitoring.coreos.com/"):  # CRDs: test_deploy_k8s checks
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    pod = _retrainer(gpu)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert env["DHAG_PIPELINE_RETRAIN__DEVICE"] == "cuda"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    (cpu_container,) = _retrainer(base)["spec"]["template"]["spec"]["containers"]
    name, tag = cpu_container["image"].rsplit(":", 1)
    assert tag == VERSION and container["image"] == f"{name}:{VERSION}-cu128"  # pinned, as the CPU one
    # The rest is deploy/k8s as it is: the other objects, and the retrainer but for what the patch names.
    assert [d for d in gpu if d["kind"] != "StatefulSet"] == [d for d in base if d["kind"] != "StatefulSet"]
    undone = copy.deepcopy(_retrainer(gpu))
    undone_pod = undone["spec"]["template"]["spec"]
    del undone_pod["tolerations"]
    (undone_container,) = undone_pod["containers"]
    undone_container["image"] = cpu_container["image"]
    del undone_container["resources"]["limits"]["nvidia.com/gpu"]
    undone_container["env"] = [
        v for v in undone_container["env"] if not v["name"].startswith("DHAG_PIPELINE_")
    ]
    assert undone == _retrainer(base)
    # The ConfigMap's settings with that variable: cuda, which a host without CUDA refuses (below).
    config = tmp_path / "config.yaml"
    (configmap,) = [d for d in gpu if d["kind"] == "ConfigMap"]
    config.write_text(configmap["data"]["config.yaml"])
    assert load_settings(config, {k: v for k, v in env.items() if v is not None}).retrain.device == "cuda"


def test_the_kubernetes_retrainer_without_a_gpu_stops_at_start(tmp_path, monkeypatch, capsys) -> None:
    (container,) = _retrainer(_rendered(K8S_GPU))["spec"]["template"]["spec"]["containers"]
    _no_cuda(monkeypatch)
    env = {v["name"]: v["value"] for v in container["env"] if v["name"].startswith("DHAG_PIPELINE_")}
    _refused_without_cuda(env, tmp_path, monkeypatch, capsys)


def _by_name(value: Any) -> Any:
    """``value`` with its lists of named items as maps by name: their order means nothing here."""
    if isinstance(value, dict):
        return {k: _by_name(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        return {i["name"]: _by_name(i) for i in value}
    return [_by_name(i) for i in value] if isinstance(value, list) else value


@pytest.mark.parametrize("folder", [K8S, K8S_GPU], ids=["k8s", "k8s-gpu"])
def test_kubectl_kustomize_renders_what_these_tests_check(folder: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (its kustomize renders the overlay)")
    result = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def key(doc: dict[str, Any]) -> tuple[str, str]:
        return doc["kind"], doc["metadata"]["name"]

    assert sorted(map(key, rendered)) == sorted(map(key, _rendered(folder)))
    ours = {key(doc): _by_name(doc) for doc in _rendered(folder)}
    for doc in rendered:
        assert _by_name(doc) == ours[key(doc)], key(doc)
