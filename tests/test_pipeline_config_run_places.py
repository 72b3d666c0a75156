"""What ``run`` and ``retrain`` refuse or warn of in their settings once started (a device, a registry
folder, an embedded broker, no retraining trigger, a metrics port) names the line of the config file or
the environment variable that set the key, as check-config's messages do
(:func:`pipeline.configsecurity.set_at`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.configsecurity import set_at
from pipeline.retrain.command import run_retrain
from pipeline.runservice import EXIT_CONFIG, _run_service


def test_set_at_says_nothing_of_settings_it_did_not_read() -> None:
    assert set_at(Settings(), "model.device") == ""
    read = load_settings(None, {"DHAG_PIPELINE_MODEL__DEVICE": "cpu"})
    assert set_at(read, "model.device") == " (set by DHAG_PIPELINE_MODEL__DEVICE)"
    assert set_at(read, "model.device", inside=True) == "; set by DHAG_PIPELINE_MODEL__DEVICE"
    assert set_at(read, "model.registry") == ""  # at its default


def test_run_names_where_a_device_this_host_lacks_was_set(
    registry: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    config = tmp_path / "config.yaml"
    config.write_text(f"model:\n  registry: {registry}\n  device: cuda:7\n")
    # Before: "config error: model.device: ... CUDA is not available", naming no line.
    assert _run_service(load_settings(config, {})) == EXIT_CONFIG
    (line,) = [r.getMessage() for r in caplog.records if "model.device" in r.getMessage()]
    assert line.startswith("config error: model.device: ") and line.endswith(f"(line 3 of {str(config)!r})")


def test_retrain_names_where_its_refused_settings_were_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedded = {"DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS": "embedded"}
    assert run_retrain(load_settings(None, embedded), once=True) == EXIT_CONFIG
    assert (
        "kafka.bootstrap_servers is embedded (set by DHAG_PIPELINE_KAFKA__BOOTSTRAP_SERVERS): " in caplog.text
    )
    caplog.clear()
    config = tmp_path / "config.yaml"
    missing = tmp_path / "registy"
    config.write_text(
        f"kafka:\n  bootstrap_servers: k:9092\nmodel:\n  registry: {missing}\n"
        "retrain:\n  min_new_labels: 0\n  interval_s: 0\n  on_drift: false\n"
    )
    with caplog.at_level(logging.WARNING):
        assert run_retrain(load_settings(config, {}), once=False) != 0  # no registry: stops
    messages = [r.getMessage() for r in caplog.records]
    (triggers,) = [m for m in messages if m.startswith("no retraining trigger is on")]
    assert triggers.endswith(f"(lines 6, 7 and 8 of {str(config)!r})")
    (folder,) = [m for m in messages if m.startswith("there is no registry folder")]
    assert f"{str(missing)!r} (model.registry, line 4 of {str(config)!r}: a misspelt path?)" in folder
