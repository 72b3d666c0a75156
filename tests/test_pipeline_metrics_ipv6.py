"""The metrics endpoint on an IPv6 metrics.host: the settings take '::' (every address) and IPv6
addresses, and the demo and probe reach them; the server listens there too."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import CollectorRegistry, Counter

from pipeline.probes import Probes, serve
from pipeline.scrape import reachable_host, scrape


def _has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _has_ipv6(), reason="this machine cannot bind ::1")


@pytest.mark.parametrize("host", ["::1", "::", "[::1]"])
def test_the_metrics_endpoint_serves_on_an_ipv6_host(host: str) -> None:
    # Before: the server was an IPv4 one whatever the host, so metrics.host '::' or '::1' stopped the
    # daemon and the retrainer at start-up ('Address family for hostname not supported').
    registry = CollectorRegistry()
    Counter("dhag_probe_check", "a sample to read back", registry=registry).inc(3)
    server, port = serve(registry, host, 0, Probes())
    try:
        samples = scrape(port, host=reachable_host(host.strip("[]")))
        assert samples is not None
        assert {s.name: s.value for s in samples}["dhag_probe_check_total"] == 3
    finally:
        server.shutdown()
        server.server_close()


def test_an_ipv4_host_is_served_as_before() -> None:
    server, port = serve(CollectorRegistry(), "127.0.0.1", 0, Probes())
    try:
        assert server.address_family == socket.AF_INET
        assert scrape(port) is not None
    finally:
        server.shutdown()
        server.server_close()
