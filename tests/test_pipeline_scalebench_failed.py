"""``dhag-pipeline bench scale`` whose daemon exits: exit 1 with an error that quotes the end of that
daemon's log, not a traceback that points at a log in a folder already deleted."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from bench_support import NoBroker

from pipeline import bench, scalebench
from pipeline.config import Settings


def test_a_daemon_that_exits_fails_the_run_quoting_its_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def popen(*args: Any, stderr: Any, **kwargs: Any) -> SimpleNamespace:
        stderr.write(b"starting\nERROR model.registry holds no model: publish one first\n")
        return SimpleNamespace(poll=lambda: 2, returncode=2, terminate=lambda: None)

    monkeypatch.setattr(scalebench, "EmbeddedBroker", NoBroker)
    monkeypatch.setattr(scalebench, "_train", lambda registry: None)
    monkeypatch.setattr(scalebench, "ensure_topics", lambda *a, **kw: None)
    monkeypatch.setattr(bench, "_produce_all", lambda *a: None)
    monkeypatch.setattr(scalebench, "free_port", lambda: 1)
    monkeypatch.setattr(scalebench, "subprocess", SimpleNamespace(Popen=popen, DEVNULL=-3))
    monkeypatch.setattr(scalebench, "stop_process", lambda proc, grace: None)
    emitted: list[dict[str, Any]] = []
    monkeypatch.setattr(scalebench, "emit", lambda result, out: emitted.append(result))
    assert scalebench.run_scale_bench(Settings(), records=3000, replicas=1, out=None) == 1
    assert emitted == []
    assert "exited with 2" in caplog.text and "holds no model: publish one first" in caplog.text
