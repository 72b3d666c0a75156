"""The daemons ``dhag-pipeline bench`` and ``bench scale`` start draw none of the start-up warnings a
plant's settings may: the settings are the bench's own, so a warning to change one (a session timeout a
default broker refuses) told its operator to change what they never set."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline import bench, scalebench
from pipeline.config import load_settings
from pipeline.settingnotes import start_notes


def _notes(env: dict[str, str]) -> list[str]:
    settings = load_settings(None, environ={k: v for k, v in env.items() if k.startswith("DHAG_PIPELINE_")})
    return start_notes(settings)


def test_the_pipeline_bench_daemon_draws_no_settings_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[dict[str, str]] = []

    def popen(cmd: list[str], env: dict[str, str], **kw: Any) -> SimpleNamespace:
        started.append(env)
        return SimpleNamespace()

    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    bench._start_daemon("127.0.0.1:1", tmp_path / "registry", "bench-tput", "g", None)
    assert _notes(started[0]) == []


def test_the_scale_bench_daemons_draw_no_settings_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[dict[str, str]] = []

    def popen(cmd: list[str], env: dict[str, str], **kw: Any) -> SimpleNamespace:
        started.append(env)
        return SimpleNamespace(poll=lambda: 1, returncode=1, terminate=lambda: None)

    monkeypatch.setattr(scalebench.subprocess, "Popen", popen)
    monkeypatch.setattr(scalebench, "stop_process", lambda proc, grace: None)
    with pytest.raises(RuntimeError, match="daemon 1 of 1 exited with 1"):
        scalebench._scale_run("127.0.0.1:1", tmp_path / "registry", "scale-1", 10, 1, tmp_path)
    assert _notes(started[0]) == []


def test_the_bench_daemons_poll_as_a_plant_daemon_does_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Before: they ran with kafka.max_poll_interval_ms 3000, a tenth of the default: on a loaded machine
    # a batch outlasted it, the group put the daemon out and its partitions were scored again (5,702
    # records in one 60 s latency run on 2 busy cores), which the latency figures then measured.
    started: list[dict[str, str]] = []

    def popen(cmd: list[str], env: dict[str, str], **kw: Any) -> SimpleNamespace:
        started.append(env)
        return SimpleNamespace(poll=lambda: 1, returncode=1, terminate=lambda: None)

    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    monkeypatch.setattr(scalebench.subprocess, "Popen", popen)
    monkeypatch.setattr(scalebench, "stop_process", lambda proc, grace: None)
    bench._start_daemon("127.0.0.1:1", tmp_path / "registry", "bench-tput", "g", None)
    with pytest.raises(RuntimeError):
        scalebench._scale_run("127.0.0.1:1", tmp_path / "registry", "scale-1", 10, 1, tmp_path)
    default = load_settings(None, environ={}).kafka.max_poll_interval_ms
    for env in started:
        settings = load_settings(
            None, environ={k: v for k, v in env.items() if k.startswith("DHAG_PIPELINE_")}
        )
        assert settings.kafka.max_poll_interval_ms == default
