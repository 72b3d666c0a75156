"""The demo's first screen says how to probe its retrainer, which serves on a free port of its own,
not on the ``retrain.metrics_port`` that ``dhag-pipeline probe --retrainer`` reads, and its daemon, on
``metrics.port`` or another port when that one is taken or 0: each command it prints reaches its
endpoint."""

from __future__ import annotations

import http.server
import io
import shlex
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_support import Proc, fake_clients

import pipeline.demo as demo
from pipeline.config import load_settings
from pipeline.probecmd import main as probe_main

CLUSTER = {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "kafka-1:9093"}  # no embedded broker started


class _Live(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/live" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def retrainer_port() -> Iterator[int]:
    """A free port answering /live as the retrainer's metrics server does."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("given", [{}, {"DHAG_PIPELINE_METRICS__ENABLED": "false"}])
def test_the_probe_command_on_the_first_screen_reaches_the_retrainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retrainer_port: int, given: dict[str, str]
) -> None:
    # Before, the screen named only its metrics URL, and `dhag-pipeline probe --retrainer` asked port
    # 9110: 'unreachable: http://127.0.0.1:9110/live: [Errno 111] Connection refused'.
    fake_clients(monkeypatch)
    monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
    monkeypatch.setattr(demo, "start_daemon", lambda *a, **k: Proc())
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (Proc(), retrainer_port))
    out = io.StringIO()
    opts = demo.DemoOptions(duration=1.0, assets=2, every=60.0, registry=str(tmp_path / "registry"))
    assert demo.run_demo(load_settings(None, CLUSTER | given), opts, out) == 0, out.getvalue()
    (env, command) = _probes(out.getvalue())["--retrainer"]
    assert command[:3] == ["dhag-pipeline", "probe", "--retrainer"], command
    said = io.StringIO()
    assert probe_main(command[2:], CLUSTER | given | env, said) == 0, said.getvalue()
    assert said.getvalue() == f"ok: http://127.0.0.1:{retrainer_port}/live answered 200\n"


def _probes(screen: str) -> dict[str, tuple[dict[str, str], list[str]]]:
    """The probe commands the screen gives, by whom they probe (``--retrainer``, else ``daemon``): each
    its environment and its words."""
    probes = {}
    for line in screen.splitlines():
        if line.startswith("  probe it: "):
            words = shlex.split(line.removeprefix("  probe it: "))
            command = [word for word in words if "=" not in word]
            env = dict(word.split("=", 1) for word in words if "=" in word)
            probes["--retrainer" if "--retrainer" in command else "daemon"] = env, command
    return probes


@pytest.mark.parametrize(
    "how", ["free", "taken", "any free one", "metrics off, any free one", "metrics off, retrainer's port"]
)
def test_the_probe_command_on_the_first_screen_reaches_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retrainer_port: int, how: str
) -> None:
    # Before, the screen gave no command for the daemon, and `dhag-pipeline probe` asked metrics.port:
    # 'unreachable: http://127.0.0.1:9108/live' where the daemon served on another port (9108 taken, or
    # metrics.port 0), or 'metrics.enabled is false: no endpoint to probe'.
    fake_clients(monkeypatch)
    taken = socket.create_server(("127.0.0.1", 0))
    configured = {"free": _free_port(), "taken": taken.getsockname()[1]}.get(how, 0)
    given = {"DHAG_PIPELINE_METRICS__PORT": str(configured)}
    if how.startswith("metrics off"):
        given["DHAG_PIPELINE_METRICS__ENABLED"] = "false"
    if how.endswith("retrainer's port"):  # allowed with metrics off; the demo's daemon serves there
        configured = _free_port()
        given["DHAG_PIPELINE_METRICS__PORT"] = given["DHAG_PIPELINE_RETRAIN__METRICS_PORT"] = str(configured)
    servers: list[http.server.HTTPServer] = []

    def daemon(settings: object, opts: object, bootstrap: str, port: int, **_: object) -> Proc:
        servers.append(http.server.HTTPServer(("127.0.0.1", port), _Live))  # it serves /live there
        threading.Thread(target=servers[-1].serve_forever, daemon=True).start()
        return Proc()

    monkeypatch.setattr(demo, "ensure_model", lambda *a, **k: "v1")
    monkeypatch.setattr(demo, "start_daemon", daemon)
    monkeypatch.setattr(demo, "start_retrainer", lambda *a, **k: (Proc(), retrainer_port))
    out = io.StringIO()
    opts = demo.DemoOptions(duration=1.0, assets=2, every=60.0, registry=str(tmp_path / "registry"))
    try:
        assert demo.run_demo(load_settings(None, CLUSTER | given), opts, out) == 0, out.getvalue()
        (env, command) = _probes(out.getvalue())["daemon"]
        assert command == ["dhag-pipeline", "probe"], command
        assert bool(env) == (how != "free"), env  # the plain command where that asks the daemon's port
        said = io.StringIO()
        assert probe_main(command[2:], CLUSTER | given | env, said) == 0, said.getvalue()
        port = servers[0].server_address[1]
        assert said.getvalue() == f"ok: http://127.0.0.1:{port}/live answered 200\n"
        assert port != 0 and (port == configured) == (how in ("free", "metrics off, retrainer's port"))
    finally:
        taken.close()
        for server in servers:
            server.shutdown()
            server.server_close()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])
