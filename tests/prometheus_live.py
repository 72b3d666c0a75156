"""A live Prometheus for the deploy tests: the ``prometheus`` binary on a free loopback port, configured from
deploy/prometheus/prometheus.yml with 1 s intervals, every job's discovery replaced by a loopback target
and copies of the real rule files whose alerts' ``for:`` is ``SHORT_FOR``; and its HTTP API."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from deploy_support import DEPLOY, RULES, load_yaml, tool

from pipeline.broker import free_port
from pipeline.procs import stop_process

SHORT_FOR = "2s"  # every alert's `for:` in the test's copy of the rules


def rules_with_short_for(workdir: Path) -> list[Path]:
    """Copies of deploy/prometheus/rules/*.yml in which every ``for:`` is ``SHORT_FOR`` and every group
    is evaluated at the global interval (a group's own, such as a minute, would outlast the test)."""
    paths = []
    for path in RULES:
        content = load_yaml(path)
        for group in content["groups"]:
            group.pop("interval", None)
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = SHORT_FOR
        copy = workdir / path.name
        copy.write_text(yaml.safe_dump(content, sort_keys=False))
        paths.append(copy)
    return paths


def prometheus_config(workdir: Path, targets: dict[str, str]) -> Path:
    """deploy/prometheus/prometheus.yml with 1 s intervals, the short-``for`` rules, no Alertmanager, and
    each job's discovery replaced by the loopback target in ``targets`` (job name -> host:port)."""
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = [scrape["job_name"] for scrape in config["scrape_configs"]]
    assert sorted(jobs) == sorted(targets), "a scrape job of prometheus.yml has no target in this test"
    config["global"] = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config.pop("alerting", None)
    config["rule_files"] = [str(p) for p in rules_with_short_for(workdir)]
    for scrape in config["scrape_configs"]:
        for key in [k for k in scrape if k.endswith("_sd_configs") or k == "static_configs"]:
            del scrape[key]
        scrape["static_configs"] = [{"targets": [targets[scrape["job_name"]]]}]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Prometheus:
    """A Prometheus server process and its HTTP API."""

    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def get(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful API answer; fails the test with Prometheus' error otherwise."""
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one sample) of ``expr`` now."""
        data = self.get("/api/v1/query", query=expr)
        return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]

    def asset_alerts(self) -> list[dict[str, Any]]:
        """The DhagAssetAnomalous alerts now (pending or firing), with their labels."""
        return [
            alert
            for alert in self.get("/api/v1/alerts")["alerts"]
            if alert["labels"]["alertname"] == "DhagAssetAnomalous"
        ]

    def logs(self) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text()[-3000:] if self.log.exists() else ""


@contextmanager
def running_prometheus(workdir: Path, targets: dict[str, str]) -> Iterator[Prometheus]:
    """A ``prometheus`` on a free loopback port with temporary storage; stopped on exit."""
    binary = tool("prometheus")
    port = free_port()
    targets = targets | {"prometheus": f"127.0.0.1:{port}"}
    config = prometheus_config(workdir, targets)
    server = Prometheus(port, workdir / "prometheus.log")
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with server.log.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready(server.url) or proc.poll() is not None, 30, "Prometheus to start", server)
        assert proc.poll() is None, f"prometheus exited with {proc.returncode}:\n{server.logs()}"
        yield server
    finally:
        stop_process(proc, 10)


def ready(url: str) -> bool:
    """Whether the Prometheus at ``url`` answers its readiness probe."""
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, prometheus: Prometheus | None = None
) -> None:
    """Poll ``predicate`` every 0.25 s; after ``timeout_s``, fail with the end of Prometheus' log."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            logs = f"\nPrometheus log:\n{prometheus.logs()}" if prometheus else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}{logs}")
        time.sleep(0.25)
