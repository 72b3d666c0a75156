"""A device that cannot take a model (out of GPU memory, a device gone) says nothing of the model's
file: loading raises the device's own error, a rollback does not pass the version over (and drop it from
the history) as damaged, and the daemon's hot swap tries the version again until the device takes it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from prometheus_client import CollectorRegistry

import dhag
from pipeline import registry
from pipeline.config import Settings
from pipeline.errors import VersionUnreadableError
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.servable import check_servable

OOM = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")


def _device_full(monkeypatch, times: int) -> list[int]:
    """Module.to raises out of memory the next ``times`` calls; returns the count of calls failed."""
    failed: list[int] = []
    real = torch.nn.Module.to

    def to(self, *args, **kwargs):
        if len(failed) < times:
            failed.append(1)
            raise OOM
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    return failed


def test_loading_on_a_full_device_raises_the_devices_error_not_a_damaged_file(
    plant_model, tmp_path: Path, monkeypatch
) -> None:
    plant_model.save(tmp_path / "m.dhag")
    _device_full(monkeypatch, times=1)
    with pytest.raises(torch.OutOfMemoryError):  # before: ArtifactError, "is inconsistent"
        dhag.load_model(tmp_path / "m.dhag")
    assert dhag.load_model(tmp_path / "m.dhag").threshold_ == plant_model.threshold_


def test_a_rollback_on_a_full_device_changes_nothing_and_keeps_the_history(
    plant_model, tmp_path: Path, monkeypatch
) -> None:
    for version in ("v1", "v2", "v3"):
        registry.publish(tmp_path, plant_model, version)
    history = (tmp_path / "history").read_text()
    _device_full(monkeypatch, times=1)  # v2's load fails on the device; v1's would work
    # Before: v2 was passed over as damaged, left out of the history, and v1 made current.
    with pytest.raises(torch.OutOfMemoryError):
        registry.rollback(tmp_path)
    assert registry.current(tmp_path)[0] == "v3" and (tmp_path / "history").read_text() == history
    assert registry.rollback(tmp_path) == ("v3", "v2")  # once the device takes it


def _reloader_behind(plant_model, tmp_path: Path):
    """A daemon's hot swap serving v1 of a registry in ``tmp_path`` whose current version is now v2; its
    processor, metrics registry and clock (a list to move on)."""
    registry.publish(tmp_path, plant_model, "v1")
    settings = Settings.model_validate({"model": {"registry": str(tmp_path), "reload_check_s": 1.0}})
    prom = CollectorRegistry()
    metrics = PipelineMetrics(prom)
    processor = BatchProcessor(settings, *reversed(registry.load_current(tmp_path)), metrics)
    clock = [0.0]
    reloader = ModelReloader(settings.model, processor, metrics, clock=lambda: clock[0])
    registry.publish(tmp_path, plant_model, "v2")
    return reloader, processor, prom, clock


def test_the_hot_swap_tries_a_version_again_until_the_device_takes_it(
    plant_model, tmp_path: Path, monkeypatch, caplog
) -> None:
    reloader, processor, prom, clock = _reloader_behind(plant_model, tmp_path)
    _device_full(monkeypatch, times=2)
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        for _ in range(2):
            assert reloader.check() is False
            clock[0] += 1.0
    assert caplog.text.count("model reload refused, v1 keeps serving (retried while the device fails)") == 1
    assert prom.get_sample_value("dhag_model_reloads_total", {"result": "failed"}) == 1
    assert reloader.check() is True  # before: not tried again until current changed
    assert processor.model_version == "v2"
    assert prom.get_sample_value("dhag_model_current_refused") == 0


def test_a_scoring_fault_on_a_device_is_the_devices_and_on_the_cpu_the_models(
    plant_model, monkeypatch
) -> None:
    def fails(_rows):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(plant_model, "decision_function", fails)
    with pytest.raises(VersionUnreadableError, match="fails to score"):
        check_servable(plant_model, "v1")
    monkeypatch.setattr(plant_model, "device_", "cuda:0")
    with pytest.raises(RuntimeError, match="illegal memory access"):
        check_servable(plant_model, "v1")


def _registry_of_two(plant_model, tmp_path: Path, monkeypatch) -> Path:
    """A registry of v1 and v2 (current) in ``tmp_path``, and the config file the commands read it by."""
    import os

    import yaml

    for name in [n for n in os.environ if n.startswith("DHAG_PIPELINE_")]:
        monkeypatch.delenv(name)
    for version in ("v1", "v2"):
        registry.publish(tmp_path, plant_model, version)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"registry": str(tmp_path)}, "metrics": {"enabled": False}}))
    return config


def test_the_commands_say_the_device_would_not_take_the_model(
    plant_model, tmp_path: Path, monkeypatch, capfd
) -> None:
    from pipeline import cli

    config = _registry_of_two(plant_model, tmp_path, monkeypatch)
    _device_full(monkeypatch, times=2)
    assert cli.main(["models", "--config", str(config), "rollback"]) == 2
    assert (
        "could not take the model, which says nothing of the version; nothing changed"
        in capfd.readouterr().err
    )
    assert cli.main(["run", "--config", str(config)]) == cli.EXIT_MODEL  # before: a traceback, exit 1
    assert "could not take the model (the version is not at fault)" in capfd.readouterr().err
    assert registry.current(tmp_path)[0] == "v2"


def _weights_too_many(monkeypatch, times: int) -> None:
    """Reading a model's weights runs out of the CPU's memory the next ``times`` calls (MemoryError)."""
    from dhag import artifact

    failed: list[int] = []
    real = artifact.st_load

    def load(data):
        if len(failed) < times:
            failed.append(1)
            raise MemoryError("Unable to allocate 2.00 GiB")
        return real(data)

    monkeypatch.setattr(artifact, "st_load", load)


def test_the_hot_swap_tries_a_version_again_when_memory_runs_out_reading_it(
    plant_model, tmp_path: Path, monkeypatch, caplog
) -> None:
    # A shortage of memory reading the weights is no damaged file (dhag lets it through as itself):
    # the daemon keeps serving and tries again, as for a device's shortage; it must not leave the loop.
    reloader, processor, prom, clock = _reloader_behind(plant_model, tmp_path)
    _weights_too_many(monkeypatch, times=1)
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert reloader.check() is False
    assert "model reload refused, v1 keeps serving (retried while the device fails)" in caplog.text
    clock[0] += 1.0
    assert reloader.check() is True and processor.model_version == "v2"


def test_the_retrainer_keeps_its_model_when_memory_runs_out_loading_the_next(
    plant_model, tmp_path: Path, monkeypatch, caplog
) -> None:
    from pipeline.labelstore import LabelStore
    from pipeline.metrics import RetrainMetrics
    from pipeline.retrain.service import Retrainer

    registry.publish(tmp_path, plant_model, "v1")
    settings = Settings.model_validate({"model": {"registry": str(tmp_path)}})
    clock = [100.0]
    retrainer = Retrainer(
        settings,
        LabelStore(":memory:"),
        RetrainMetrics(CollectorRegistry()),
        bootstrap_servers="unused:9092",
        clock=lambda: clock[0],
    )
    assert retrainer._current_model()[0] == "v1"
    registry.publish(tmp_path, plant_model, "v2")
    registry.promote(tmp_path, "v2")
    _weights_too_many(monkeypatch, times=1)
    retrainer._model_checked = -1e9  # due for a look
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        assert retrainer._current_model()[0] == "v1"  # before: the MemoryError left the loop
    assert "out of memory" in caplog.text and "v2" in caplog.text
    retrainer._model_checked = -1e9
    assert retrainer._current_model()[0] == "v2"


def test_the_commands_say_memory_would_not_take_the_model(
    plant_model, tmp_path: Path, monkeypatch, capfd
) -> None:
    from pipeline import cli

    config = _registry_of_two(plant_model, tmp_path, monkeypatch)
    _weights_too_many(monkeypatch, times=2)
    assert cli.main(["models", "--config", str(config), "rollback"]) == 2  # before: a traceback
    assert "could not take the model, which says nothing of the version" in capfd.readouterr().err
    assert cli.main(["run", "--config", str(config)]) == cli.EXIT_MODEL
    assert "could not take the model (the version is not at fault)" in capfd.readouterr().err
    assert registry.current(tmp_path)[0] == "v2"
