"""Quiet-time resolutions that are not quiet: a pause of consumption, a resolution not delivered, an
asset beyond the per-asset series limit."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from pipeline_kafka import reading
from plant_data import normal
from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.daemon import Daemon
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

Rec = namedtuple("Rec", "topic partition offset key value")


class _Consumer:
    def assignment(self) -> set:
        return set()

    def pause(self, *partitions: object) -> None:
        pass

    def paused(self) -> set:
        return set()

    def resume(self, *partitions: object) -> None:
        pass


def _open_episode(fitted, monkeypatch, clock: list[float], **alerts) -> tuple[Daemon, CollectorRegistry]:
    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    settings = Settings.model_validate(
        {
            "alerts": {"open_after": 2, "window": 3, "resolve_after": 100, "quiet_s": 60.0} | alerts,
            "dlq": {"resume_after_s": 600.0},
        }
    )
    reg = CollectorRegistry()
    metrics = PipelineMetrics(reg)
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    bad = normal(np.random.default_rng(2), 1)[0] + np.array([9.0, 0, 0, 0])
    out = daemon.processor.process([Rec("in", 0, i, b"q", reading("q", float(i), bad)) for i in range(2)])
    assert out.opened == 1
    return daemon, reg


def _swept(daemon: Daemon) -> list:
    """An idle poll's sweep, after a look at the positions that found nothing waiting."""
    daemon.read_through.looked({("in", 0): (2, 0)}, now=daemon.clock())
    return daemon.processor.sweep()


def test_a_pause_of_consumption_by_the_dlq_cap_is_not_quiet_time(fitted, monkeypatch) -> None:
    # Before, the idle sweeps of a paused daemon resolved every open episode as quiet_time: the fault
    # was "over" because its readings were not read, and opened again under a new id after the resume.
    clock = [1000.0]
    daemon, reg = _open_episode(fitted, monkeypatch, clock)
    anomalous = {"asset": "q"}
    clock[0] += 30.0
    daemon.dlq_pause.pause(_Consumer())
    clock[0] += 700.0  # paused, reading nothing, far past quiet_s, until dlq.resume_after_s
    assert _swept(daemon) == []
    daemon.dlq_pause.maybe_resume(_Consumer())
    assert daemon.dlq_pause.active is False
    clock[0] += 29.0  # 30 s read before the pause and 29 s since the resume: not yet quiet_s
    assert _swept(daemon) == []
    assert reg.get_sample_value("dhag_asset_anomalous", anomalous) == 1
    clock[0] += 2.0  # 61 s of reading without a score over the threshold
    (resolved,) = _swept(daemon)
    assert reg.get_sample_value("dhag_asset_anomalous", anomalous) == 0


def test_a_quiet_time_resolution_not_delivered_leaves_the_asset_anomalous(fitted, monkeypatch) -> None:
    clock = [1000.0]
    daemon, reg = _open_episode(fitted, monkeypatch, clock)
    proc = daemon.processor
    clock[0] += 61.0
    point = proc.savepoint()
    (resolved,) = _swept(daemon)
    proc.rollback(point)  # the broker did not take it: it is resolved again on the next idle poll
    assert reg.get_sample_value("dhag_asset_anomalous", {"asset": "q"}) == 1
    point = proc.savepoint()
    (again,) = proc.sweep()
    proc.release(point)
    assert again.value == resolved.value
    assert reg.get_sample_value("dhag_asset_anomalous", {"asset": "q"}) == 0


@pytest.mark.parametrize("limit", [0, 1])
def test_an_abnormal_asset_beyond_the_series_limit_is_counted_for_its_page(limit: int) -> None:
    reg = CollectorRegistry()
    m = PipelineMetrics(reg, asset_limit=limit)
    unlisted = lambda: reg.get_sample_value("dhag_assets_anomalous_unlisted")  # noqa: E731
    m.set_asset("listed", score=0.1, anomalous=False)
    assert m.set_asset("far-1", score=0.9, anomalous=True) is False
    m.set_asset("far-2", score=0.9, anomalous=True)
    assert unlisted() == 2
    m.set_asset("far-1", score=0.2, anomalous=False)
    assert unlisted() == 1
    m.forget_assets({"far-2"})
    assert unlisted() == 0


def test_an_unlisted_abnormal_asset_stops_counting_when_its_partition_goes(fitted) -> None:
    # Only listed assets were remembered per partition: after a revocation the gauge kept counting an
    # asset this replica no longer owned, and DhagAssetsAnomalousUnlisted paged until a restart.
    settings = Settings.model_validate({"alerts": {"open_after": 2, "window": 3, "resolve_after": 100}})
    reg = CollectorRegistry()
    proc = BatchProcessor(settings, fitted, "v1", PipelineMetrics(reg, asset_limit=1))
    bad = normal(np.random.default_rng(2), 1)[0] + np.array([9.0, 0, 0, 0])
    recs = [
        Rec("in", 0, i, a.encode(), reading(a, float(i), bad)) for i, a in enumerate(["a", "b", "a", "b"])
    ]
    proc.process(recs, now=0.0)
    assert reg.get_sample_value("dhag_assets_anomalous_unlisted") == 1
    proc.drop_partitions([("in", 0)])
    assert reg.get_sample_value("dhag_assets_anomalous_unlisted") == 0


def test_a_kafka_outage_is_not_quiet_time_either(fitted, monkeypatch) -> None:
    # After an outage longer than quiet_s, the first sweep resolved every open episode (as silence),
    # though nothing had been read, and the faults opened again under new ids.
    from kafka.errors import KafkaTimeoutError

    clock = [1000.0]
    daemon, reg = _open_episode(fitted, monkeypatch, clock)
    daemon._stop.set()  # the failure's backoff returns at once
    clock[0] += 30.0
    daemon.health.failure("poll", KafkaTimeoutError("broker gone"))
    clock[0] += 100.0  # still within kafka.unavailable_exit_s
    daemon.health.failure("connection", ConnectionError("no connection to any broker"))
    clock[0] += 15.0
    assert _swept(daemon) == []
    daemon.health.success()
    clock[0] += 29.0
    assert _swept(daemon) == []
    clock[0] += 2.0
    (resolved,) = _swept(daemon)
    assert reg.get_sample_value("dhag_asset_anomalous", {"asset": "q"}) == 0
