"""Reading a metrics endpoint as Prometheus would: the demo, the benchmarks and the soak read the
services this way."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["reachable_host", "scrape"]

# A server bound to every address answers on the loopback one; nothing connects to "0.0.0.0".
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def reachable_host(host: str) -> str:
    """Where to reach a server bound to ``host`` (``metrics.host``), as a URL writes it: that address,
    or the loopback one for every address; an IPv6 address in brackets.

    >>> reachable_host("0.0.0.0"), reachable_host("::"), reachable_host("10.1.2.3"), reachable_host("fd00::7")
    ('127.0.0.1', '[::1]', '10.1.2.3', '[fd00::7]')
    """
    host = _WILDCARDS.get(host, host)
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def scrape(port: int, *, host: str = "127.0.0.1", timeout_s: float = 2.0) -> list[Sample] | None:
    """Every sample a metrics endpoint serves at ``host`` (as a URL writes it: :func:`reachable_host`);
    None when it cannot be reached."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]
