"""The demo's children hold an open alert for ``alerts.resolve_hold_s`` of the plant's time, not of the
readings' wall-clock time, which the plant outruns ``--speedup`` times. Before, a demo at 10x held every
alert for 50 simulated minutes: in a run of eight minutes none resolved, and each later fault of an
asset began under the alert of its first and counted as undetected."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import pipeline.demochildren as children
from pipeline.config import load_settings
from pipeline.configsource import ENV_PREFIX
from pipeline.demo import DemoOptions

KEY = ENV_PREFIX + "ALERTS__RESOLVE_HOLD_S"


class _Started:
    def __init__(self, cmd: list[str], env: dict[str, str], **_: object) -> None:
        self.cmd, self.env = cmd, env


@pytest.mark.parametrize(
    ("speedup", "configured", "held"), [(10.0, None, "30"), (4.0, "120", "30"), (1.0, None, "300")]
)
def test_both_children_hold_alerts_for_the_plants_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speedup: float, configured: str | None, held: str
) -> None:
    monkeypatch.setattr(subprocess, "Popen", _Started)
    monkeypatch.delenv(KEY, raising=False)
    env = {KEY: configured} if configured else {}
    settings = load_settings(None, env)
    opts = DemoOptions(speedup=speedup, registry=str(tmp_path / "registry"))
    daemon = children.start_daemon(settings, opts, "127.0.0.1:9092", 0)
    retrainer, _port = children.start_retrainer(settings, opts, "127.0.0.1:9092", tmp_path / "labels", {})
    assert daemon.env[KEY] == held and retrainer.env[KEY] == held
    assert load_settings(None, {KEY: daemon.env[KEY]}).alerts.resolve_hold_s == float(held)


def test_a_hold_of_zero_stays_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _Started)
    settings = load_settings(None, {KEY: "0"})
    daemon = children.start_daemon(settings, DemoOptions(registry=str(tmp_path / "r")), "127.0.0.1:9092", 0)
    assert daemon.env[KEY] == "0"


def test_both_children_give_a_machine_warmup_s_of_the_plants_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", _Started)
    warmup = ENV_PREFIX + "ALERTS__WARMUP_S"
    monkeypatch.delenv(warmup, raising=False)
    opts = DemoOptions(speedup=10.0, registry=str(tmp_path / "registry"))
    settings = load_settings(None, {})
    daemon = children.start_daemon(settings, opts, "127.0.0.1:9092", 0)
    retrainer, _port = children.start_retrainer(settings, opts, "127.0.0.1:9092", tmp_path / "labels", {})
    assert daemon.env[warmup] == retrainer.env[warmup] == "360"
