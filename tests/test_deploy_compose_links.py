"""deploy/compose.yaml: the links Prometheus and Alertmanager build point at an address an operator's
browser reaches (validated offline with ``docker-compose config``)."""

from __future__ import annotations

import yaml
from deploy_support import DEPLOY, run, tool

COMPOSE = DEPLOY / "compose.yaml"
SECRET = {"GRAFANA_ADMIN_PASSWORD": "a-test-secret"}


def _services(env: dict[str, str]) -> dict:
    result = run([tool("docker-compose"), "-f", str(COMPOSE), "config"], cwd=DEPLOY, env=SECRET | env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_prometheus_and_alertmanager_link_to_the_address_they_are_published_on() -> None:
    # Without --web.external-url each builds its links from its host name, a container's id: every
    # alert's "Source" (generatorURL) and every notification's links pointed at http://<id>:9090.
    def urls(env: dict[str, str]) -> dict[str, str]:
        services = _services(env)
        found = {}
        for name in ("prometheus", "alertmanager"):
            (flag,) = [a for a in services[name]["command"] if a.startswith("--web.external-url=")]
            found[name] = flag.partition("=")[2]
        return found

    published = {
        name: "http://localhost:" + str(_services({})[name]["ports"][0]).split(":")[1]
        for name in ("prometheus", "alertmanager")
    }
    assert (
        urls({})
        == published
        == {"prometheus": "http://localhost:9090", "alertmanager": "http://localhost:9093"}
    )
    shared = {
        "PROMETHEUS_EXTERNAL_URL": "https://prom.plant.example",
        "ALERTMANAGER_EXTERNAL_URL": "https://am.x",
    }
    assert urls(shared) == {"prometheus": "https://prom.plant.example", "alertmanager": "https://am.x"}
