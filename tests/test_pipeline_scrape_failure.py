"""A scrape whose collection raises: answered 500, its error in the service's log, once until a scrape
works again (pipeline.probes)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Gauge

from pipeline import probes as probes_module
from pipeline.metrics import serve_metrics
from pipeline.probes import Probes


class _Failing:
    def __init__(self) -> None:
        self.fail = True

    def collect(self):
        if self.fail:
            raise OSError("cannot read /proc/4242/status")
        return []


def _get(port: int, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_collection_that_raises_is_answered_500_and_logged_once_until_it_works(caplog, capsys) -> None:
    # Before: wsgiref printed the traceback to stderr at every scrape, past the logging configuration
    # (its format, JSON lines included, and its masking of passwords), and answered "A server error
    # occurred.  Please contact the administrator."
    caplog.set_level(logging.INFO, logger=probes_module.__name__)
    registry, failing = CollectorRegistry(), _Failing()
    Gauge("dhag_x", "x", registry=registry).set(1)
    registry.register(failing)
    server, port = serve_metrics(registry, "127.0.0.1", 0, Probes())
    try:
        for _ in range(3):
            status, body = _get(port)
            assert (status, body) == (500, f"{probes_module.METRICS_FAILED}\n".encode())
        assert _get(port, "HEAD") == (500, b"")
        errors = [
            r for r in caplog.records if r.name == probes_module.__name__ and r.levelno == logging.ERROR
        ]
        assert len(errors) == 1 and "cannot read /proc/4242/status" in caplog.text
        assert "Traceback" not in capsys.readouterr().err
        failing.fail = False
        assert _get(port)[0] == 200
        assert "/metrics answers 200 again" in caplog.text
        failing.fail = True
        assert _get(port)[0] == 500
        errors = [
            r for r in caplog.records if r.name == probes_module.__name__ and r.levelno == logging.ERROR
        ]
        assert len(errors) == 2  # failing again after it worked: said again
    finally:
        server.shutdown()
