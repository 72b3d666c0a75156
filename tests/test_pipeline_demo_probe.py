"""The demo's first screen says how to probe its retrainer, which serves on a free port of its own,
not on the ``retrain.metrics_port`` that ``dhag-pipeline probe --retrainer`` reads: the command it
prints reaches the retrainer's endpoint."""

from __future__ import annotations

import http.server
import io
import shlex
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
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("  probe it: ")]
    words = shlex.split(line.removeprefix("  probe it: "))
    env = dict(word.split("=", 1) for word in words if "=" in word)
    command = [word for word in words if "=" not in word]
    assert command[:3] == ["dhag-pipeline", "probe", "--retrainer"], line
    said = io.StringIO()
    assert probe_main(command[2:], CLUSTER | given | env, said) == 0, said.getvalue()
    assert said.getvalue() == f"ok: http://127.0.0.1:{retrainer_port}/live answered 200\n"
