"""What the metrics endpoint answers for a path it does not serve, and for HEAD (pipeline.probes)."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import CollectorRegistry

from pipeline.metrics import PipelineMetrics, serve_metrics
from pipeline.probes import Probes


def _exchange(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request as sent on the wire: the status, the headers and every byte after them."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


@pytest.fixture
def endpoint():
    registry, probes = CollectorRegistry(), Probes()
    PipelineMetrics(registry)
    probes.attach(ready=lambda: None, live=lambda: None)
    server, port = serve_metrics(registry, "127.0.0.1", 0, probes)
    yield port
    server.shutdown()


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/metrics/", "/ready/x", "/favicon.ico"])
def test_a_path_the_endpoint_does_not_serve_is_answered_404(endpoint, path: str) -> None:
    # Before: any path but /ready and /live was answered 200 with the metrics, so a probe configured
    # on a mistyped or conventional path (/healthz) passed whatever state the service was in.
    status, headers, body = _exchange(endpoint, "GET", path)
    assert status == 404, path
    assert b"/metrics, /ready, /live" in body and b"dhag_" not in body
    assert _exchange(endpoint, "HEAD", path)[0] == 404


@pytest.mark.parametrize("path", ["/metrics", "/ready", "/live"])
def test_head_is_answered_as_get_without_the_body(endpoint, path: str) -> None:
    # Before: HEAD /metrics was answered 405, and HEAD /ready and /live sent their body ("ok").
    status, headers, body = _exchange(endpoint, "GET", path)
    assert status == 200 and body
    head_status, head_headers, head_body = _exchange(endpoint, "HEAD", path)
    assert (head_status, head_body) == (200, b"")
    assert head_headers["content-type"] == headers["content-type"]
    if path != "/metrics":  # the metrics' length changes between two scrapes (the _created series stay)
        assert head_headers["content-length"] == headers["content-length"] == str(len(body))
    else:
        assert int(head_headers["content-length"]) > 1000


def test_metrics_still_answer_options_and_refuse_post(endpoint) -> None:
    assert _exchange(endpoint, "OPTIONS", "/metrics")[0] == 200
    status, headers, _ = _exchange(endpoint, "POST", "/metrics")
    assert status == 405 and "GET" in headers["allow"]
