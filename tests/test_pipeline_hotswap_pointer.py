"""The hot swap sees every rewrite of ``current``, even where its stat stamp cannot tell them apart: a
volume with coarse timestamps that reuses inodes gives a pointer rewritten within one tick to another
version of the same length the stamp it had."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from pipeline import registry
from pipeline.config import Settings
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reloader(fitted, root: Path) -> tuple[ModelReloader, BatchProcessor, _Clock]:
    registry.publish(root, fitted, "v1")
    settings = Settings.model_validate({"model": {"registry": str(root), "reload_check_s": 2.0}})
    version, model = registry.load_current(root)
    processor = BatchProcessor(settings, model, version, PipelineMetrics(CollectorRegistry()))
    clock = _Clock()
    return ModelReloader(settings.model, processor, processor.metrics, clock=clock), processor, clock


def _frozen_stat(monkeypatch, pointer: Path) -> None:
    """Every stat of ``pointer`` gives the stamp it has now: same device, inode, mtime and size."""
    frozen = os.stat(pointer)
    real_stat = os.stat

    def stat(path, *args, **kwargs):  # noqa: ANN001, ANN202 - os.stat's own signature
        if Path(path) == pointer:
            return frozen
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


def test_a_pointer_rewritten_to_another_version_under_the_same_stat_stamp_is_swapped_in(
    fitted, tmp_path: Path, monkeypatch
) -> None:
    reloader, processor, clock = _reloader(fitted, tmp_path)
    registry.publish(tmp_path, fitted, "v2")
    registry.publish(tmp_path, fitted, "v3", make_current=False)
    assert reloader.check() is True and processor.model_version == "v2"
    _frozen_stat(monkeypatch, tmp_path / registry.CURRENT)
    clock.now += 3
    assert reloader.check() is False, "nothing changed"
    registry.promote(tmp_path, "v3")  # the same length as 'v2', within the same tick
    clock.now += 3
    assert reloader.check() is True and processor.model_version == "v3"
    registry.rollback(tmp_path)
    clock.now += 3
    assert reloader.check() is True and processor.model_version == "v2"
    assert processor.metrics.model_reloads.labels("ok")._value.get() == 3


def test_an_unchanged_pointer_is_not_loaded_again(fitted, tmp_path: Path, monkeypatch) -> None:
    reloader, processor, clock = _reloader(fitted, tmp_path)
    registry.publish(tmp_path, fitted, "v2")
    assert reloader.check() is True
    loads = []
    monkeypatch.setattr(registry, "load_version", lambda *a, **k: loads.append(a))
    for _ in range(5):
        clock.now += 3
        assert reloader.check() is False
    assert loads == [] and processor.model_version == "v2"


def test_a_pointer_that_cannot_be_stated_is_said_once_until_it_can(
    fitted, tmp_path: Path, monkeypatch, caplog
) -> None:
    # Before: 'cannot stat .../current: ...' at WARNING at every reload check (every 2 s) for as long
    # as the registry's folder stayed unreadable: thousands of lines an hour for one cause.
    import logging

    reloader, processor, clock = _reloader(fitted, tmp_path)
    pointer, real_stat = reloader.pointer, os.stat
    denied = {"on": True}

    def stat(path, *args, **kwargs):  # noqa: ANN001, ANN202 - os.stat's own signature
        if Path(path) == pointer and denied["on"]:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if "cannot stat" in r.getMessage()]

    with caplog.at_level(logging.INFO, logger="pipeline.hotswap"):
        for _ in range(5):
            clock.now += 2.0
            assert not reloader.check()
        assert len(said()) == 1 and "Permission denied" in said()[0]
        denied["on"] = False
        clock.now += 2.0
        reloader.check()
        assert processor.model_version == "v1"
        denied["on"] = True  # unreadable again after a readable check: said again, once
        for _ in range(3):
            clock.now += 2.0
            reloader.check()
        assert len(said()) == 2
