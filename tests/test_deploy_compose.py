"""deploy/compose.yaml validated offline with ``docker-compose config -q``, its wiring to the other deploy
files, and the Dockerfile's shape (multi-stage, non-root, CPU torch by default)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from deploy_support import DEPLOY, REPO, load_yaml, named_volumes, run, tool
from prometheus_client import CollectorRegistry

from pipeline.cli import main
from pipeline.config import load_settings
from pipeline.metrics import serve_metrics
from pipeline.probecmd import DEFAULT_TIMEOUT_S
from pipeline.probes import Probes

COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"


SECRET = {"GRAFANA_ADMIN_PASSWORD": "a-test-secret"}


def _resolved() -> dict[str, Any]:
    result = run([tool("docker-compose"), "-f", str(COMPOSE), "config"], cwd=DEPLOY, env=SECRET)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid() -> None:
    result = run([tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"], cwd=DEPLOY, env=SECRET)
    assert result.returncode == 0, result.stderr


def test_the_monitoring_uis_listen_on_this_host_only_and_grafana_needs_a_password() -> None:
    # Before, Prometheus (with its lifecycle API: POST /-/quit), Alertmanager (anyone could silence
    # the plant's alerts) and Grafana (admin/admin) listened on every interface.
    services = _resolved()["services"]
    for name in ("prometheus", "alertmanager", "grafana"):
        for port in services[name]["ports"]:  # docker-compose writes them short: ip:host:container/proto
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert not any("lifecycle" in arg for arg in services["prometheus"]["command"])
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == SECRET["GRAFANA_ADMIN_PASSWORD"]
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    cmd = [tool("docker-compose"), "-f", str(COMPOSE), "config", "-q"]
    unset = subprocess.run(cmd, cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=120)
    assert unset.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in unset.stderr
    assert services["simulator"]["init"] is True  # as PID 1 it would ignore SIGTERM


def test_the_services_of_the_image_run_locked_down_as_in_kubernetes() -> None:
    # Before: the daemon, the retrainer and the demo's containers ran with a writable root file system,
    # Docker's default capabilities and setuid escalation allowed, where the Kubernetes pods drop all.
    services = _resolved()["services"]
    ours = [name for name, svc in services.items() if svc.get("image") == services["daemon"]["image"]]
    assert set(ours) == {"daemon", "retrainer", "demo-model", "simulator"}
    for name in ours:
        service = services[name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "/tmp" in service.get("tmpfs", []), name  # the one path written outside the registry
        assert "user" not in service  # the image's own non-root user (the Dockerfile test below)
    # The daemon only reads the registry; the retrainer and the demo model publish into it.
    assert ("model-registry", "/models") in named_volumes(services["daemon"])
    assert services["daemon"]["volumes"] == ["model-registry:/models:ro"]  # written short when resolved


def test_compose_validation_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = load_yaml(COMPOSE)
    broken["services"]["daemon"]["stop_grace_period"] = {"not": "a duration"}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert run([tool("docker-compose"), "-f", str(path), "config", "-q"], cwd=tmp_path).returncode != 0


def test_services_and_the_demo_profile() -> None:
    services = _resolved()["services"]
    assert {
        "kafka",
        "daemon",
        "retrainer",
        "prometheus",
        "alertmanager",
        "grafana",
        "simulator",
        "demo-model",
    } <= set(services)
    in_demo = {name for name, svc in services.items() if "demo" in svc.get("profiles", [])}
    assert in_demo == {"simulator", "demo-model"}
    assert all(set(svc.get("profiles", ["demo"])) == {"demo"} for svc in services.values())


def test_kafka_runs_in_kraft_mode() -> None:
    env = _resolved()["services"]["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
    assert not [key for key in env if "ZOOKEEPER" in key]


def test_daemon_settings_and_shutdown_grace() -> None:
    daemon = _resolved()["services"]["daemon"]
    env = {k: str(v) for k, v in daemon["environment"].items()}
    settings = load_settings(REPO / "config.yaml", env)
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.metrics.host == "0.0.0.0"  # Prometheus scrapes it from its own container
    grace = daemon["stop_grace_period"]
    seconds = float(re.fullmatch(r"(\d+)s", grace).group(1)) if isinstance(grace, str) else float(grace)
    assert seconds > settings.shutdown_grace_s
    assert daemon["build"]["args"]["TORCH_VARIANT"] == "cpu"


def test_the_retrainer_watches_and_shares_the_daemons_registry_volume() -> None:
    services = _resolved()["services"]
    retrainer, daemon = services["retrainer"], services["daemon"]
    assert retrainer["command"][:2] == ["retrain", "--watch"]
    assert retrainer["image"] == daemon["image"]
    env = {k: str(v) for k, v in retrainer["environment"].items()}
    settings = load_settings(REPO / "config.yaml", env)
    daemon_settings = load_settings(
        REPO / "config.yaml", {k: str(v) for k, v in daemon["environment"].items()}
    )
    assert settings.kafka.bootstrap_servers == daemon_settings.kafka.bootstrap_servers
    assert settings.metrics.host == "0.0.0.0"  # Prometheus scrapes it from its own container
    assert settings.model.registry == daemon_settings.model.registry
    # One signing key for both, from the operator's environment (empty: no signing).
    for variable in ("DHAG_ARTIFACT_KEY", "DHAG_ARTIFACT_PREVIOUS_KEY"):  # and the same one during a rotation
        assert retrainer["environment"][variable] == daemon["environment"][variable]
    # The same named volume at the same path: the registry the retrainer promotes into is the daemon's.
    mounts = {name: named_volumes(svc) for name, svc in (("retrainer", retrainer), ("daemon", daemon))}
    assert mounts["retrainer"] == mounts["daemon"] and mounts["daemon"]
    (target,) = {t for _, t in mounts["daemon"]}
    assert str(settings.model.registry).startswith(target)
    # A singleton, scraped where prometheus.yml looks for it.
    assert retrainer.get("deploy", {}).get("replicas", 1) == 1 and "retrainer" not in str(
        retrainer.get("profiles", [])
    )
    jobs = {c["job_name"]: c for c in load_yaml(DEPLOY / "prometheus/prometheus.yml")["scrape_configs"]}
    assert jobs["dhag-retrainer"]["static_configs"][0]["targets"] == [
        f"retrainer:{settings.retrain.metrics_port}"
    ]
    # Its health check, the image's, asks the retrainer on the port its own settings give (below).
    assert "healthcheck" not in retrainer
    assert _config_of(_dockerfile_healthcheck()) == _config_of(retrainer["command"])
    grace = retrainer["stop_grace_period"]
    seconds = float(re.fullmatch(r"(\d+)s", grace).group(1)) if isinstance(grace, str) else float(grace)
    assert seconds > settings.shutdown_grace_s


def test_mounts_point_at_the_deploy_files() -> None:
    services = load_yaml(COMPOSE)["services"]
    mounts = {
        name: dict(v.split(":")[:2] for v in svc.get("volumes", []) if v.startswith("./"))
        for name, svc in services.items()
    }
    for name, pairs in mounts.items():
        for source in pairs:
            assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
    provider = load_yaml(DEPLOY / "grafana/provisioning/dashboards/dhag.yaml")["providers"][0]
    assert mounts["grafana"]["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["prometheus"]["./prometheus"] == "/etc/prometheus"
    targets = load_yaml(DEPLOY / "prometheus/prometheus.yml")["alerting"]["alertmanagers"][0][
        "static_configs"
    ]
    assert targets[0]["targets"] == ["alertmanager:9093"] and "alertmanager" in services
    datasource = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yaml")["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    # Alertmanager delivers here; Grafana's own rules would notify every alert a second time.
    for source in mounts["grafana"]:
        assert "alerting" not in source and not (DEPLOY / source / "alerting").exists(), source


def test_services_without_a_metrics_port_do_not_inherit_its_healthcheck() -> None:
    # The image's HEALTHCHECK polls the daemon's metrics port; a service that serves none would stay
    # "unhealthy" for ever (and fail `docker compose up --wait`).
    services = _resolved()["services"]
    for name in ("demo-model", "simulator"):
        check = services[name]["healthcheck"]  # docker-compose spells "disable: true" as test [NONE]
        assert check.get("disable") is True or check.get("test") == ["NONE"], name
    assert _dockerfile_healthcheck()[:2] == ["dhag-pipeline", "probe"]


def _config_of(argv: list[str]) -> str:
    return argv[argv.index("--config") + 1]


def _dockerfile_healthcheck() -> list[str]:
    """The image's HEALTHCHECK command (its exec form)."""
    text = DOCKERFILE.read_text()
    match = re.search(r"^HEALTHCHECK\s(?:.*\\\n)*.*?\bCMD (\[.*\])$", text, flags=re.MULTILINE)
    assert match, "no HEALTHCHECK ... CMD [...] in the Dockerfile"
    return json.loads(match.group(1))


def _fake_proc(root: Path, argv: list[str]) -> Path:
    """A /proc whose PID 1 runs ``argv``."""
    (root / "1").mkdir(parents=True)
    (root / "1" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return root


def _container_argv(service: dict[str, Any], config: Path, *, init: bool = False) -> list[str]:
    """PID 1's command line in a container of the image running this compose service, the image's
    config file (its HEALTHCHECK's) at ``config``."""
    entrypoint = json.loads(
        re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE).group(1)
    )
    assert entrypoint == ["dhag-pipeline"]
    image_config = _config_of(_dockerfile_healthcheck())
    command = [str(config) if arg == image_config else arg for arg in service["command"]]
    # A console script: the interpreter its shebang names, then the script, then the arguments.
    argv = ["/opt/venv/bin/python", "/opt/venv/bin/dhag-pipeline", *command]
    return ["/sbin/docker-init", "--", *argv[1:]] if init else argv


@contextmanager
def _refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound here, so taken by nobody else, not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_the_image_health_check_probes_the_service_its_container_runs(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    # Before, the image's check asked the daemon's port whatever the container ran: a container started
    # as `retrain` was unhealthy unless compose gave it a check of its own.
    import pipeline.probecmd

    services = _resolved()["services"]
    assert "healthcheck" not in load_yaml(COMPOSE)["services"]["retrainer"]  # the image's check is its own
    for variable in [v for v in os.environ if v.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(variable)
    check = _dockerfile_healthcheck()
    config = tmp_path / "config.yaml"  # the image's config file
    config.write_text((REPO / "config.yaml").read_text())
    argv = [str(config) if arg == _config_of(check) else arg for arg in check[1:]]
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        with _refused_port() as refused:
            for name, init, key, other in (
                ("retrainer", False, "RETRAIN__METRICS_PORT", "METRICS__PORT"),
                ("retrainer", True, "RETRAIN__METRICS_PORT", "METRICS__PORT"),  # `docker run --init`
                ("daemon", False, "METRICS__PORT", "RETRAIN__METRICS_PORT"),
                ("daemon", True, "METRICS__PORT", "RETRAIN__METRICS_PORT"),
            ):
                pid_1 = _container_argv(services[name], config, init=init)
                monkeypatch.setattr(
                    pipeline.probecmd, "PROC", _fake_proc(tmp_path / f"proc-{name}-{init}", pid_1)
                )
                monkeypatch.setenv(f"DHAG_PIPELINE_{key}", str(port))  # this service answers there ...
                monkeypatch.setenv(f"DHAG_PIPELINE_{other}", str(refused))  # ... the other's port refuses
                assert main(argv) == 0, (name, init, capsys.readouterr().out)
                assert capsys.readouterr().out == f"ok: http://127.0.0.1:{port}/live answered 200\n"
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_checks_follow_the_configured_ports(tmp_path: Path, monkeypatch, capsys) -> None:
    # Before: the image's check asked 127.0.0.1:9108 and compose's retrainer 127.0.0.1:9110 whatever the
    # settings said, so a changed metrics.port or retrain.metrics_port marked a working container unhealthy.
    services = _resolved()["services"]
    dockerfile = DOCKERFILE.read_text()
    # The image's check reads the config file its CMD and the compose daemon read: the image's config.yaml.
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE).group(1))
    assert (
        _config_of(_dockerfile_healthcheck()) == _config_of(cmd) == _config_of(services["daemon"]["command"])
    )
    assert f"COPY config.yaml {_config_of(cmd)}" in dockerfile
    # The probe gives up before Docker does, so its reason is what Docker records.
    docker_timeout = float(re.search(r"--timeout=(\d+)s", dockerfile).group(1))
    assert docker_timeout > DEFAULT_TIMEOUT_S
    import pipeline.probecmd

    check = _dockerfile_healthcheck()
    original_probe, asked = pipeline.probecmd.probe, []

    def noting(url: str, timeout_s: float) -> tuple[int, str]:
        asked.append(url)
        return 1, f"noted: {url}"

    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        with _refused_port() as refused:
            for name, key in (("daemon", ("metrics", "port")), ("retrainer", ("retrain", "metrics_port"))):
                for variable in [v for v in os.environ if v.startswith("DHAG_PIPELINE_")]:
                    monkeypatch.delenv(variable)
                for variable, value in services[name].get("environment", {}).items():
                    monkeypatch.setenv(variable, str(value))
                config = tmp_path / name / "config.yaml"  # the image's copy of config.yaml
                config.parent.mkdir()
                config.write_text((REPO / "config.yaml").read_text())
                pid_1 = _container_argv(services[name], config)
                monkeypatch.setattr(pipeline.probecmd, "PROC", _fake_proc(tmp_path / f"proc-{name}", pid_1))
                argv = [str(config) if arg == _config_of(check) else arg for arg in check[1:]]
                pattern = re.compile(rf"^(\s+{key[1]}:) (\d+)", flags=re.MULTILINE)
                documented = int(pattern.search(config.read_text()).group(2))
                # The file's port is the one asked (noted, not connected to: anything may listen there) ...
                asked.clear()
                monkeypatch.setattr(pipeline.probecmd, "probe", noting)
                assert main(argv) == 1 and asked == [f"http://127.0.0.1:{documented}/live"], name
                monkeypatch.setattr(pipeline.probecmd, "probe", original_probe)
                # ... and one that refuses is reported so.
                config.write_text(pattern.sub(rf"\1 {refused}", config.read_text(), count=1))
                assert main(argv) == 1, name
                assert (
                    capsys.readouterr()
                    .out.splitlines()[-1]
                    .startswith(f"unreachable: http://127.0.0.1:{refused}/live: ")
                )
                variable = f"DHAG_PIPELINE_{key[0].upper()}__{key[1].upper()}"
                monkeypatch.setenv(variable, str(port))  # an operator's override ...
                assert main(argv) == 0, name
                monkeypatch.delenv(variable)
                config.write_text(
                    pattern.sub(rf"\1 {port}", config.read_text(), count=1)
                )  # ... or the file's
                assert main(argv) == 0, name
                assert (
                    capsys.readouterr().out.splitlines()[-1]
                    == f"ok: http://127.0.0.1:{port}/live answered 200"
                )
    finally:
        server.shutdown()
        server.server_close()


def test_dockerfile_is_multi_stage_non_root_with_cpu_torch_by_default() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", text, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=build" in runtime
    (user,) = re.findall(r"^USER\s+(\S+)", runtime, flags=re.MULTILINE)
    assert user.split(":")[0] not in {"0", "root"}
    # The code and the settings belong to root, readable by the service's user but not its to change: a
    # process taken over could otherwise rewrite the config the next start reads (run without a
    # read-only root file system).
    assert not re.findall(r"^COPY --chown", runtime, flags=re.MULTILINE)
    (owned,) = re.findall(r"chown \S+ ([^\\\n]+)", runtime)
    assert owned.split() == ["/models", "/models/registry"]  # the volume only
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, flags=re.MULTILINE)
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in text
    makefile_torch = re.search(r"^TORCH \?= torch==(\S+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert f"ARG TORCH_VERSION={makefile_torch.group(1)}" in text
    for source in re.findall(r"^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$", text, flags=re.MULTILINE):
        for name in source.split():
            assert (REPO / name).exists(), f"COPY {name}: not in the repository"


def test_docker_build_context_leaves_out_the_virtualenv() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore and "models" in ignore


def test_every_service_that_creates_topics_gives_them_the_same_partition_count() -> None:
    # Before, the demo's simulator created the input topic with config.yaml's 3 partitions: it starts at
    # once, while the daemon (6) exits until the demo model is published, so `--scale daemon=6` left
    # half the replicas without a partition.
    services = _resolved()["services"]
    counts = {
        name: load_settings(
            REPO / "config.yaml", {k: str(v) for k, v in services[name].get("environment", {}).items()}
        ).kafka.topics.partitions
        for name in ("daemon", "retrainer", "simulator")
    }
    assert set(counts.values()) == {int(services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])}, counts
