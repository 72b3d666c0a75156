"""deploy/compose.yaml: what the monitoring services keep (Prometheus's history, Alertmanager's
silences and notification log, Grafana's database) outlives their containers (validated offline with
``docker-compose config``)."""

from __future__ import annotations

from typing import Any

import yaml
from deploy_support import DEPLOY, named_volumes, run, tool

COMPOSE = DEPLOY / "compose.yaml"
SECRET = {"GRAFANA_ADMIN_PASSWORD": "a-test-secret"}
# Where each keeps its state: the flag that sets it, or the path it uses without one (the image's
# working folder and the program's default, `data/`, for Prometheus; Grafana's own).
STATE = {
    "prometheus": ("--storage.tsdb.path=", "/prometheus/data"),
    "alertmanager": ("--storage.path=", None),
    "grafana": (None, "/var/lib/grafana"),
}


def _services() -> dict[str, Any]:
    result = run([tool("docker-compose"), "-f", str(COMPOSE), "config"], cwd=DEPLOY, env=SECRET)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_monitoring_services_keep_their_state_in_named_volumes() -> None:
    # Before, Alertmanager's command (ours, for --web.external-url) left out the image's
    # --storage.path: its silences went to an anonymous volume that `docker compose down` leaves
    # behind, so after the next `up` every silence was gone and every firing alert notified again.
    services = _services()
    for name, (flag, default) in STATE.items():
        given = [
            arg.partition("=")[2]
            for arg in services[name].get("command") or []
            if flag and arg.startswith(flag)
        ]
        assert given or default, f"{name}: no {flag} given, so its state lies where its image puts it"
        path = (given or [default])[-1].rstrip("/")
        mounts = [target.rstrip("/") for _, target in named_volumes(services[name])]
        assert any(path == m or path.startswith(m + "/") for m in mounts), (name, path, mounts)
