"""Reading a metrics endpoint as Prometheus would: the demo, the benchmarks and the soak read the
services this way."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["scrape"]


def scrape(port: int, *, host: str = "127.0.0.1", timeout_s: float = 2.0) -> list[Sample] | None:
    """Every sample a metrics endpoint serves; None when it cannot be reached."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]
