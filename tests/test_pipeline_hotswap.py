"""Hot swap of the model between batches: processing level with a fake clock, then end to end."""

from __future__ import annotations

import copy
import errno
import gc
import logging
import os
import weakref
from collections import namedtuple
from pathlib import Path

import numpy as np
import orjson
import pytest
from log_support import own_records
from pipeline_kafka import (
    committed,
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    running_daemon,
    sample,
    wait_for,
)
from plant_data import normal
from prometheus_client import CollectorRegistry

import dhag
import dhag.artifact
from pipeline import registry
from pipeline.config import Settings
from pipeline.errors import ModelUnavailableError
from pipeline.hotswap import ModelReloader
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Rig:
    """A registry with ``v1`` current, a processor serving it, and a reloader on a fake clock."""

    def __init__(self, fitted, root: Path) -> None:
        registry.publish(root, fitted, "v1")
        self.root = root
        self.settings = Settings.model_validate(
            {
                "kafka": {"topics": {"scores": "scores"}},
                "model": {"registry": str(root), "reload_check_s": 2.0},
                "alerts": {"open_after": 2, "window": 3, "resolve_after": 3, "resolve_hold_s": 0.0},
            }
        )
        self.prom = CollectorRegistry()
        metrics = PipelineMetrics(self.prom)
        version, model = registry.load_current(root)
        self.processor = BatchProcessor(self.settings, model, version, metrics)
        self.clock = _Clock()
        self.reloader = ModelReloader(self.settings.model, self.processor, metrics, clock=self.clock)
        self.offset = 0

    def check_after(self, seconds: float) -> bool:
        self.clock.now += seconds
        return self.reloader.check()

    def batch(self, rows: np.ndarray, asset: str = "p") -> list[dict]:
        recs = []
        for row in rows:
            recs.append(Rec("in", 0, self.offset, asset.encode(), reading(asset, 1e9 + self.offset, row)))
            self.offset += 1
        out = self.processor.process(recs, now=float(self.offset))
        assert out.scored == len(rows)
        return [orjson.loads(m.value) | {"topic": m.topic} for m in out.messages]

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.prom.get_sample_value(name, labels or {})


def _with_threshold(root: Path, threshold: float) -> dhag.DHAG:
    model = dhag.load_model(root / "v1.dhag")
    model.threshold_ = threshold
    return model


def _publish_with_threshold(root: Path, threshold: float, version: str, **publish) -> None:
    """Publish ``version`` with a threshold that dhag neither saves nor loads (outside [0, 1]): a copy
    of ``v1`` published as it is, then its file rewritten with ``threshold``, checksum and all, as an
    editor with the format's description could."""
    registry.publish(root, dhag.load_model(root / "v1.dhag"), version, **publish)
    path = root / f"{version}.dhag"
    manifest, tensors, _ = dhag.artifact._read(path)
    dhag.artifact.write_artifact(path, manifest | {"threshold": threshold}, tensors)


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_new_version_is_swapped_in_between_batches_and_open_alerts_carry_it(fitted, tmp_path) -> None:
    rig = _Rig(fitted, tmp_path)
    assert rig.check_after(0) is False  # the pointer names the version in use
    bad = normal(np.random.default_rng(1), 2) + np.array([0, 0, 0, 9.0])
    first = rig.batch(bad)
    (opened,) = [e for e in first if e["topic"] == "anomaly-alerts"]
    assert opened["state"] == "open" and opened["model_version"] == "v1"
    assert {e["model_version"] for e in first if e["topic"] == "scores"} == {"v1"}

    new_threshold = min(1.0, fitted.threshold_ + 0.05)
    registry.publish(tmp_path, _with_threshold(tmp_path, new_threshold), "v2")
    assert rig.check_after(1.0) is False, "checked again before model.reload_check_s passed"
    assert rig.processor.model_version == "v1"
    assert rig.check_after(1.5) is True
    second = rig.batch(np.zeros((3, 4)))
    assert {e["model_version"] for e in second if e["topic"] == "scores"} == {"v2"}
    (resolved,) = [e for e in second if e["topic"] == "anomaly-alerts"]
    assert resolved["state"] == "resolved" and resolved["alert_id"] == opened["alert_id"]
    assert resolved["model_version"] == "v2" and resolved["threshold"] == pytest.approx(new_threshold)

    assert rig.sample("dhag_model_info", {"version": "v1"}) is None
    # The replaced version's drift count goes with it; months of swaps keep one series.
    assert rig.sample("dhag_drift_detections_total", {"model_version": "v1"}) is None
    assert rig.sample("dhag_drift_detections_total", {"model_version": "v2"}) == 0
    assert rig.sample("dhag_model_info", {"version": "v2"}) == 1
    assert rig.sample("dhag_model_threshold") == pytest.approx(new_threshold)
    assert rig.sample("dhag_model_reloads_total", {"result": "ok"}) == 1
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 0


def test_models_swapped_out_are_released_with_whatever_they_scored(fitted, tmp_path) -> None:
    # Months of promotions: the daemon keeps the model it serves, not every one it served (an alert
    # open across a swap, the drift monitor and the metrics keep no reference to the old ones).
    rig = _Rig(fitted, tmp_path)
    faulty = normal(np.random.default_rng(1), 2) + np.array([0, 0, 0, 9.0])
    swapped_out = []
    for n in range(2, 7):
        rig.batch(faulty if n % 2 else np.zeros((3, 4)))  # an episode opens, resolves, opens...
        swapped_out.append(weakref.ref(rig.processor.model))
        registry.publish(tmp_path, dhag.load_model(tmp_path / "v1.dhag"), f"v{n}")
        assert rig.check_after(3) is True
    rig.batch(np.zeros((3, 4)))
    gc.collect()
    assert [ref() is None for ref in swapped_out] == [True] * 5
    assert rig.processor.model_version == "v6"


def test_a_corrupt_version_is_refused_once_and_the_old_model_keeps_serving(fitted, tmp_path, caplog) -> None:
    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    registry.publish(tmp_path, fitted, "v2")
    _corrupt(tmp_path / "v2.dhag")
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "model reload refused, v1 keeps serving" in caplog.text and "'v2'" in caplog.text
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 1
    scores = rig.batch(np.zeros((4, 4)))
    assert {e["model_version"] for e in scores} == {"v1"}
    assert rig.sample("dhag_model_info", {"version": "v1"}) == 1

    caplog.clear()
    for _ in range(3):
        assert rig.check_after(3) is False
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 1, "retried an unchanged pointer"
    assert not own_records(caplog)
    # As long as current names the refused version (a restart would exit on it), the gauge says so.
    assert rig.sample("dhag_model_current_refused") == 1

    # A published version is never replaced: the repaired model comes as a new version, and the
    # changed pointer is tried again.
    with pytest.raises(ValueError, match="'v2' already exists"):
        registry.publish(tmp_path, fitted, "v2")
    registry.publish(tmp_path, fitted, "v2-fixed")
    assert rig.check_after(3) is True
    assert rig.processor.model_version == "v2-fixed"
    assert rig.sample("dhag_model_reloads_total", {"result": "ok"}) == 1
    assert rig.sample("dhag_model_current_refused") == 0


def test_with_a_signing_key_a_version_written_without_it_is_refused(
    fitted, tmp_path, monkeypatch, caplog
) -> None:
    # The retrainer and the daemons share DHAG_ARTIFACT_KEY; a file dropped into the registry by anyone
    # without it (here: published before the key was set) is not served.
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    monkeypatch.delenv("DHAG_ARTIFACT_KEY")
    registry.publish(tmp_path, fitted, "v2")
    monkeypatch.setenv("DHAG_ARTIFACT_KEY", "plant-secret")
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "is not signed, and DHAG_ARTIFACT_KEY is set" in caplog.text
    assert rig.processor.model_version == "v1"
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 1
    registry.publish(tmp_path, fitted, "v3")  # signed: the retrainer has the key
    assert rig.check_after(3) is True and rig.processor.model_version == "v3"


def test_other_sensors_a_misfiled_artifact_and_a_missing_pointer_are_refused(
    fitted, quick_model, train_rows, tmp_path, caplog
) -> None:
    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    other = quick_model(feature_names=["a", "b", "c", "d"]).fit(np.asarray(train_rows))
    registry.publish(tmp_path, other, "v3")
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "reads the sensors ['a', 'b', 'c', 'd']" in caplog.text
    (tmp_path / "v5.dhag").write_bytes((tmp_path / "v1.dhag").read_bytes())
    (tmp_path / "current").write_text("v5\n")
    assert rig.check_after(3) is False
    assert "records version 'v1'" in caplog.text
    (tmp_path / "current").unlink()
    assert rig.check_after(3) is False
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 3
    assert rig.processor.model_version == "v1"
    assert {e["model_version"] for e in rig.batch(np.zeros((2, 4)))} == {"v1"}


@pytest.mark.integration
def test_a_version_promoted_while_the_daemon_runs_scores_what_follows_with_nothing_skipped(
    tansu, fitted, tmp_path
) -> None:
    bs = tansu.bootstrap_servers
    registry.publish(tmp_path, fitted, "v1")
    registry.publish(tmp_path, _with_threshold(tmp_path, min(1.0, fitted.threshold_ + 0.05)), "v2")
    registry.rollback(tmp_path)
    settings = make_settings(
        bs,
        tmp_path,
        scores=True,
        kafka={"batch_size": 50},
        model={"registry": str(tmp_path), "reload_check_s": 0.2},
    )
    topic, group = settings.kafka.topics.input, settings.kafka.group_id
    rng = np.random.default_rng(5)

    def burst(start: int, n: int) -> list[tuple[int, int]]:
        items = [
            (f"h-{i % 9}".encode(), reading(f"h-{i % 9}", 1_790_000_000 + start + i, row))
            for i, row in enumerate(normal_rows(rng, n))
        ]
        return produce(bs, topic, items)

    before = burst(0, 300)
    with running_daemon(settings, fitted, bs, hot_swap=True) as (_daemon, prom):
        wait_for(lambda: sample(prom, "dhag_records_consumed_total") >= 300, 30, "the first records")
        registry.promote(tmp_path, "v2")
        wait_for(lambda: sample(prom, "dhag_model_reloads_total", {"result": "ok"}) == 1, 10, "the swap")
        after = burst(300, 300)
        wait_for(lambda: sum(committed(bs, group, topic).values()) == 600, 30, "all records committed")
        assert sample(prom, "dhag_model_info", {"version": "v2"}) == 1
        assert prom.get_sample_value("dhag_model_info", {"version": "v1"}) is None
    scored = [
        orjson.loads(m.value) for m in read_topic(bs, settings.kafka.topics.scores, count=600, timeout_s=20)
    ]
    version_at = {(e["partition"], e["offset"]): e["model_version"] for e in scored}
    assert set(version_at) == set(before) | set(after)
    assert {version_at[p] for p in before} == {"v1"}
    assert {version_at[p] for p in after} == {"v2"}


def test_a_threshold_outside_zero_one_or_a_network_that_scores_nan_is_refused(
    fitted, tmp_path, caplog
) -> None:
    # A threshold of 1.5 would alert on nothing; NaN weights would score every reading NaN. Neither
    # check had a test: removing either still passed the suite.
    import torch

    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    _publish_with_threshold(tmp_path, 1.5, "v2")
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "Cannot load model version 'v2'" in caplog.text  # dhag refuses the file itself
    assert "its threshold 1.5 is outside [0, 1]" in caplog.text
    broken = dhag.load_model(tmp_path / "v1.dhag")
    with torch.no_grad():
        next(broken.net_.parameters()).fill_(float("nan"))
    registry.publish(tmp_path, broken, "v3")
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "Model version 'v3' fails to score: The model's weights are not finite" in caplog.text
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 2
    assert rig.processor.model_version == "v1"


def test_promote_rollback_and_start_up_refuse_what_the_hot_swap_refuses(fitted, tmp_path) -> None:
    # Only the hot swap checked a model's threshold and scores: `models promote` made a model with NaN
    # weights current, and every daemon started after that served it (scores NaN: no alert, ever).
    import torch

    registry.publish(tmp_path, fitted, "v1")
    _publish_with_threshold(tmp_path, 7.5, "v2", make_current=False)
    broken = dhag.load_model(tmp_path / "v1.dhag")
    with torch.no_grad():
        next(broken.net_.parameters()).fill_(float("nan"))
    registry.publish(tmp_path, broken, "v3", make_current=False)
    for version, fault in (
        ("v2", "Cannot load model version 'v2': .* its threshold 7.5 is outside \\[0, 1\\]"),
        ("v3", "fails to score: The model's weights are not finite"),
    ):
        with pytest.raises(ModelUnavailableError, match=fault):
            registry.promote(tmp_path, version)
        assert registry.current(tmp_path)[0] == "v1"
        (tmp_path / "current").write_text(f"{version}\n")  # put there by hand: a start-up refuses it
        with pytest.raises(ModelUnavailableError, match=fault):
            registry.load_current(tmp_path)
        (tmp_path / "current").write_text("v1\n")
    (tmp_path / registry.HISTORY).write_text('["v3"]\n')
    with pytest.raises(ModelUnavailableError, match="fails to score: The model's weights are not finite"):
        registry.rollback(tmp_path)
    assert registry.current(tmp_path)[0] == "v1"


def test_a_model_in_memory_with_a_threshold_outside_zero_one_is_not_servable(fitted) -> None:
    # A file holding one no longer loads (dhag refuses it); a model handed over in memory, as a
    # retraining run's candidate is, is still checked here.
    from pipeline.servable import check_servable

    model = copy.copy(fitted)
    for threshold in (1.5, -0.1, float("nan")):
        model.threshold_ = threshold
        with pytest.raises(ModelUnavailableError, match=f"has threshold {threshold}; it must be in"):
            check_servable(model, "v9")


def test_a_version_whose_file_fails_to_stat_is_refused_and_the_old_model_keeps_serving(
    fitted, tmp_path, monkeypatch, caplog
) -> None:
    # On a shared volume the stat of the new artifact can fail (EIO, ESTALE): that is one more swap
    # that fails, not an exception out of the daemon's loop.
    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    registry.publish(tmp_path, fitted, "v2")
    real_stat = Path.stat

    def failing_stat(self: Path, *args, **kwargs):
        if self.name == "v2.dhag":
            raise OSError(errno.ESTALE, "Stale file handle", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", failing_stat)
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
    assert "model reload refused, v1 keeps serving" in caplog.text and "Stale file handle" in caplog.text
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 1
    assert rig.sample("dhag_model_current_refused") == 1
    assert {e["model_version"] for e in rig.batch(np.zeros((2, 4)))} == {"v1"}


def test_a_version_whose_file_fails_to_be_read_is_tried_again_until_the_read_works(
    fitted, tmp_path, monkeypatch, caplog
) -> None:
    # A read error (no permission for the service's user, EIO) says nothing of the version: once the
    # owner or the volume is fixed it loads, without anyone switching current again.
    rig = _Rig(fitted, tmp_path)
    rig.check_after(0)
    registry.publish(tmp_path, fitted, "v2")
    real_open = os.open

    def denied(path, flags, *args, **kwargs):  # noqa: ANN001, ANN202 - os.open's own signature
        if Path(path).name == "v2.dhag":
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(dhag.artifact.os, "open", denied)
    with caplog.at_level(logging.ERROR, logger="pipeline.hotswap"):
        assert rig.check_after(3) is False
        assert rig.check_after(3) is False
    assert rig.processor.model_version == "v1" and "(EACCES)" in caplog.text
    assert caplog.text.count("model reload refused") == 1, "said once, not at every try"
    assert rig.sample("dhag_model_reloads_total", {"result": "failed"}) == 1
    assert rig.sample("dhag_model_current_refused") == 1
    monkeypatch.undo()  # the owner fixed
    assert rig.check_after(3) is True and rig.processor.model_version == "v2"
    assert rig.sample("dhag_model_current_refused") == 0
