"""``dhag-pipeline demo``'s start-up, its children (the daemon, the retrainer) and the Kafka clients
faked. Its own clients (the topics it creates, the simulated plant's and operator's producers, the
console's reader of alerts and ground truth) reach the cluster as its daemon does: with the ``kafka``
settings' security and client options; its metrics port is said as it was chosen."""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import pytest
from demo_support import Proc, fake_clients

import pipeline.demo as demo
from pipeline.brokerlink import client_options
from pipeline.config import Settings, load_settings

SECURED = {
    "DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka-1:9093,kafka-2:9093",
    "DHAG_PIPELINE_KAFKA__CLIENT_ID": "demo-client",
    "DHAG_PIPELINE_KAFKA__SECURITY__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "DHAG_PIPELINE_KAFKA__SECURITY__SASL_MECHANISM": "SCRAM-SHA-512",
    "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_USERNAME": "demo",
    "DHAG_PIPELINE_KAFKA__SECURITY__SASL_PLAIN_PASSWORD": "s3cret",
}


def _run_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> str:
    monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
    monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: Proc())
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (Proc(), 1))
    out = io.StringIO()
    opts = demo.DemoOptions(duration=1.0, assets=2, every=60.0, registry=str(tmp_path / "registry"))
    assert demo.run_demo(settings, opts, out) == 0, out.getvalue()
    return out.getvalue()


def test_every_client_the_demo_makes_uses_the_daemons_client_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, its topics, its simulated plant's and operator's producers and its console's consumer were
    # made with the broker's address alone: on a cluster that asks for a SASL login or TLS, its daemon
    # connected, and its own clients failed or waited.
    settings = load_settings(None, SECURED)
    made, _ = fake_clients(monkeypatch)
    _run_demo(tmp_path, monkeypatch, settings)
    kinds = [kind for kind, _ in made]
    assert sorted(kinds) == ["KafkaAdminClient", "KafkaConsumer", "KafkaProducer", "KafkaProducer"], kinds
    daemons = client_options(settings.kafka, "kafka-1:9093,kafka-2:9093")
    security = settings.kafka.security.client_options()
    assert security["sasl_plain_password"] == "s3cret"
    for kind, options in made:
        # The admin client as the daemon's topic provisioning makes it (its own timeouts), the others
        # with every option the daemon's consumer and producer share.
        wanted = security if kind == "KafkaAdminClient" else daemons
        assert {k: options.get(k) for k in wanted} == wanted, kind


def test_on_a_cluster_the_demo_creates_its_topics_as_the_daemon_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, with replication factor 1 on any cluster: on one whose brokers ask for more in-sync
    # replicas than that (min.insync.replicas 2), every acks=all produce of its daemon (alerts) failed.
    settings = load_settings(None, SECURED)
    _, created = fake_clients(monkeypatch)
    _run_demo(tmp_path, monkeypatch, settings)
    assert created and {t.name.startswith("dhag-demo.") for t in created} == {True}
    assert {t.replication_factor for t in created} == {-1}  # the broker's default, as the services ask


def test_metrics_port_0_is_said_as_a_free_port_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: "metrics: port 0 is taken; using port N instead", though port 0 asks for any free one.
    fake_clients(monkeypatch)
    settings = load_settings(None, SECURED | {"DHAG_PIPELINE_METRICS__PORT": "0"})
    said = _run_demo(tmp_path, monkeypatch, settings)
    assert "is taken" not in said
    line = next(line for line in said.splitlines() if line.startswith("metrics: "))
    port = int(line.split()[4])
    assert line == f"metrics: serving on port {port} (metrics.port 0 picks a free one)"
    assert f"metrics on http://127.0.0.1:{port}/metrics" in said and port > 0


def test_the_demos_children_serve_the_metrics_its_console_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its console reads records/s, lag, the model in use and the retraining runs from its daemon's and
    # its retrainer's metrics endpoints, whose URLs it prints. Before, a config with metrics.enabled:
    # false (a plant's, demo --config plant.yaml) left both without one: 0 records/s scored for good,
    # no model in use, model_at_end null, and the URLs it printed served nothing.
    import subprocess
    from types import SimpleNamespace

    import pipeline.demochildren as children

    envs: list[dict[str, str]] = []
    popen = lambda cmd, env, **_: envs.append(env) or Proc()  # noqa: E731
    monkeypatch.setattr(children, "subprocess", SimpleNamespace(Popen=popen, DEVNULL=subprocess.DEVNULL))
    settings = load_settings(None, {"DHAG_PIPELINE_METRICS__ENABLED": "false"})
    opts = demo.DemoOptions(registry=str(tmp_path / "registry"))
    children.start_daemon(settings, opts, "127.0.0.1:9092", 9108)
    children.start_retrainer(settings, opts, "127.0.0.1:9092", tmp_path / "labels.sqlite", {})
    assert [env["DHAG_PIPELINE_METRICS__ENABLED"] for env in envs] == ["true", "true"]


class _DeadBroker:
    """An embedded broker that started, then died (a crash, the kernel's OOM killer)."""

    pid = 4322
    bootstrap_servers = "127.0.0.1:1"
    stopped = False

    def start(self) -> _DeadBroker:
        return self

    @property
    def returncode(self) -> int:
        return -9

    def stop(self) -> None:
        self.stopped = True


def test_an_embedded_broker_that_dies_stops_the_demo_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: it ran on, printing 0 records/s scored, until its daemon gave up on the broker two minutes
    # later ("the daemon exited with code 3"), never saying the broker had died.
    fake_clients(monkeypatch)
    broker = _DeadBroker()
    monkeypatch.setattr(demo, "EmbeddedBroker", lambda: broker)
    monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
    monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: Proc())
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (Proc(), 1))
    out = io.StringIO()
    opts = demo.DemoOptions(duration=30.0, assets=2, every=60.0, registry=str(tmp_path / "registry"))
    started = time.monotonic()
    assert demo.run_demo(load_settings(None, {}), opts, out) == 3, out.getvalue()
    assert time.monotonic() - started < 20
    assert "the embedded broker exited with code -9: stopping\n" in out.getvalue()
    assert broker.stopped and "summary: " in out.getvalue()


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6(), reason="this machine has no IPv6")
def test_a_free_metrics_port_on_an_ipv6_host_is_kept() -> None:
    # Before, its port was checked with an IPv4 socket bound to metrics.host, which "::" cannot be:
    # "metrics: port 9108 is taken; using port N instead" with 9108 free.
    from pipeline.demochildren import metrics_port

    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::", 0))
        port = sock.getsockname()[1]
    assert metrics_port("::", port) == (port, None)
    assert metrics_port("[::]", port) == (port, None)  # as a URL writes it (pipeline.scrape)


@pytest.mark.parametrize("host", ["::", "127.0.0.1"])
def test_a_metrics_port_taken_on_its_host_is_replaced_by_one_free_there(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    # Before, the replacement was a port free on 127.0.0.1, whatever metrics.host said.
    if ":" in host and not _has_ipv6():
        pytest.skip("this machine has no IPv6")
    from pipeline.demochildren import metrics_port

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as taken:
        taken.bind((host, 0))
        taken.listen()
        port = taken.getsockname()[1]
        bound: list[str] = []

        class Recording(socket.socket):
            def bind(self, address: object) -> None:
                bound.append(address[0])  # type: ignore[index]
                super().bind(address)

        monkeypatch.setattr(socket, "socket", Recording)
        chosen, said = metrics_port(host, port)
        monkeypatch.undo()
        assert said == f"metrics: port {port} is taken; using port {chosen} instead"
        assert chosen not in (0, port)
        assert set(bound) == {host}, bound


def test_a_metrics_host_not_on_this_machine_keeps_its_port() -> None:
    # An address this machine does not have (TEST-NET-1) takes no port: the daemon says it cannot serve
    # there, naming metrics.host; no port of another address is said "taken" for it.
    from pipeline.demochildren import metrics_port

    assert metrics_port("192.0.2.1", 9108) == (9108, None)
    port, said = metrics_port("192.0.2.1", 0)
    assert port > 0 and said == f"metrics: serving on port {port} (metrics.port 0 picks a free one)"
