"""``dhag-pipeline probe`` quotes the reason an unhealthy endpoint gives (the first line of its answer,
whatever listens on the port) escaped as ``dhag info`` shows a name (:func:`dhag.infotext.shown_name`)
when it holds a terminal's escape: the line it prints goes to an operator's terminal as well as to
``docker inspect``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from pipeline.cli import main
from pipeline.metrics import serve_metrics
from pipeline.probes import Probes


@pytest.fixture
def endpoint() -> Iterator[tuple[int, Probes]]:
    probes = Probes()
    server, port = serve_metrics(CollectorRegistry(), "127.0.0.1", 0, probes)
    try:
        yield port, probes
    finally:
        server.shutdown()
        server.server_close()


def test_a_reason_holding_a_terminal_s_escape_is_shown_escaped(
    endpoint, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: "unhealthy: ... answered 503: stalled" and the ESC and BEL that retitle the window, raw.
    for name in os.environ:
        if name.startswith("DHAG_PIPELINE_"):
            monkeypatch.delenv(name)
    port, probes = endpoint
    config = tmp_path / "config.yaml"
    config.write_text(f"metrics: {{port: {port}}}\n")
    probes.attach(ready=lambda: None, live=lambda: "stalled\x1b]0;owned\x07 on sensor-readings")
    assert main(["probe", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    reason = r"'stalled\x1b]0;owned\x07 on sensor-readings'"
    assert out == f"unhealthy: http://127.0.0.1:{port}/live answered 503: {reason}\n"
