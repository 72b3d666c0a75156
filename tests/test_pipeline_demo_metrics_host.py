"""The demo reads its children's metrics where they serve them: ``metrics.host`` (its daemon and its
retrainer listen there alone), or the loopback address when that is every address (``0.0.0.0``, ``::``).
Run in-process with its children and Kafka's clients faked (:mod:`demo_support`), their endpoints real."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from test_pipeline_demo_kafka_faults import CLUSTER, Demo

import pipeline.demo as demo
from pipeline.config import load_settings
from pipeline.metrics import serve_metrics
from pipeline.scrape import reachable_host

HOST = "127.0.0.2"  # a loopback address of Linux's that is not 127.0.0.1


def _can_bind(host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _can_bind(HOST), reason=f"{HOST} is not an address of this host")
def test_the_demo_reads_and_prints_its_childrens_metrics_at_the_metrics_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, it read and printed 127.0.0.1 whatever metrics.host said: with its children listening on
    # another address, its screen never read a record scored, a model in use or a retraining run.
    daemon, retrainer = CollectorRegistry(), CollectorRegistry()
    Gauge("dhag_model_info", "model", ["version"], registry=daemon).labels("v9").set(1)
    Counter("dhag_retrain_runs", "runs", ["outcome"], registry=retrainer).labels("promoted").inc(2)
    servers = [serve_metrics(registry, HOST, 0) for registry in (daemon, retrainer)]
    try:
        run = Demo(tmp_path, monkeypatch, {})
        (_, daemon_port), (_, retrainer_port) = servers
        monkeypatch.setattr(demo, "metrics_port", lambda *_: (daemon_port, None))
        monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (run._child(), retrainer_port))
        out = io.StringIO()
        settings = load_settings(None, CLUSTER | {"DHAG_PIPELINE_METRICS__HOST": HOST})
        assert demo.run_demo(settings, run.opts, out) == 0, out.getvalue()
    finally:
        for server, _ in servers:
            server.shutdown()
    printed = out.getvalue()
    assert f"metrics on http://{HOST}:{daemon_port}/metrics" in printed
    assert f"metrics on http://{HOST}:{retrainer_port}/metrics" in printed
    assert "127.0.0.1" not in printed
    summary = json.loads(printed.splitlines()[-1].removeprefix("summary: "))
    assert summary["model_at_end"] == "v9" and summary["retrain_runs"] == {"promoted": 2}


@pytest.mark.parametrize(
    ("host", "reached"),
    [
        ("0.0.0.0", "127.0.0.1"),  # every address: the loopback one answers
        ("::", "[::1]"),
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),  # that address alone
        ("fd00::7", "[fd00::7]"),
        ("metrics.plant.local", "metrics.plant.local"),
    ],
)
def test_a_server_bound_to_a_host_is_reached_at_it_or_at_loopback_for_every_address(
    host: str, reached: str
) -> None:
    assert reachable_host(host) == reached
