"""Kafka away for ``kafka.unavailable_exit_s`` while a retraining run trains in its thread: the retrainer
handles it as a stop (the run is told to stop, ends at its next epoch and publishes nothing, waited
for up to half of ``shutdown_grace_s`` and recorded), then exits with code 3 all the same. A training
left running in a daemon thread as the process exits dies inside torch at interpreter shutdown (an
abort in place of exit code 3) or publishes and promotes a candidate after the retrainer said it
stopped."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry
from test_pipeline_retrain_outage import _Clock
from test_pipeline_retrain_refused import BROKERS, LABELS, READINGS, _Consumer, _Producer

from pipeline.config import Settings
from pipeline.errors import BrokerUnavailableError
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics
from pipeline.retrain import runs
from pipeline.retrain.service import Retrainer
from pipeline.retrain.training import RunStoppedError

AWAY = KafkaTimeoutError("Failed to update metadata after 30.0 secs.")


class _Training:
    """A run's training: epochs of 10 ms until told to stop (or, ``deaf``, until released), for 30 s at
    most; says whether it saw the stop and whether it got to publish."""

    def __init__(self, *, deaf: bool = False) -> None:
        self.deaf, self.started, self.release = deaf, threading.Event(), threading.Event()
        self.saw_stop = self.published = False

    def __call__(self, *args: object, stop: threading.Event, **kwargs: object) -> object:
        self.started.set()
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not self.release.is_set():
            if stop.is_set() and not self.deaf:
                self.saw_stop = True
                raise RunStoppedError("the retrainer is stopping: the training ended after epoch 3")
            time.sleep(0.01)
        self.published = True  # where run_cycle would publish (and maybe promote) its candidate
        raise RuntimeError("published after the retrainer had stopped")


def _retrainer(monkeypatch, training: _Training, grace_s: float) -> tuple[Retrainer, LabelStore, _Clock]:
    settings = Settings.model_validate(
        {
            "kafka": {"unavailable_exit_s": 10.0, "backoff_initial_s": 0.5, "backoff_max_s": 4.0},
            "retrain": {"group_id": "plant-7-retrainer", "on_drift": False},
            "shutdown_grace_s": grace_s,
        }
    )
    store, clock = LabelStore(":memory:"), _Clock()
    retrainer = Retrainer(
        settings, store, RetrainMetrics(CollectorRegistry()), bootstrap_servers=BROKERS, monotonic=clock
    )
    monkeypatch.setattr(retrainer, "_current_model", lambda level=logging.WARNING: ("v1", None, None))
    real_wait = retrainer._stop.wait

    def wait(timeout: float | None = None) -> bool:  # the backoff moves the outage's clock, not time
        clock.now += timeout or 0.0
        return real_wait(0)

    monkeypatch.setattr(retrainer._stop, "wait", wait)
    due = iter(["labels"])  # a run is due at the first turn, none after
    monkeypatch.setattr(retrainer, "due", lambda: next(due, None))
    monkeypatch.setattr(runs, "run_cycle", training)
    consumer = _Consumer(retrainer, [{}] + [AWAY] * 50)  # the run starts, then Kafka goes away
    monkeypatch.setattr(retrainer, "_clients", lambda: (consumer, _Producer()))
    monkeypatch.setattr(retrainer, "_assign", lambda c: [LABELS, READINGS])
    return retrainer, store, clock


def test_kafka_away_during_a_run_stops_the_run_records_it_and_still_exits_as_an_outage(
    monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    training = _Training()
    retrainer, store, _ = _retrainer(monkeypatch, training, grace_s=40.0)
    caplog.set_level(logging.INFO)
    try:
        with pytest.raises(BrokerUnavailableError, match="unavailable_exit_s"):
            retrainer.run()
        # Before: the error left at once, the training went on in its daemon thread, never told to
        # stop, and the run was never recorded.
        assert training.started.is_set() and training.saw_stop and not training.published
        assert retrainer._training is None  # waited for and recorded
        assert store.get_state("last_run_at") is not None
        assert store.get_state("last_run_label_id") is None  # its labels count as new at the next start
        assert "retraining run given up, nothing promoted" in caplog.text
        assert "Kafka unusable: waiting up to 20 s for the retraining run" in caplog.text
    finally:
        training.release.set()


def test_a_run_that_does_not_end_within_half_the_grace_is_left_and_the_exit_stays_an_outage(
    monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    training = _Training(deaf=True)  # an epoch that outlasts the grace
    retrainer, store, _ = _retrainer(monkeypatch, training, grace_s=1.0)
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    try:
        with pytest.raises(BrokerUnavailableError, match="unavailable_exit_s"):
            retrainer.run()
        assert 0.5 <= time.monotonic() - started < 10.0  # half the grace, not the run's time budget
        assert "stopping without the unfinished retraining run" in caplog.text
        assert store.get_state("last_run_at") is None  # not finished: tried again at the next start
    finally:
        training.release.set()


def test_the_command_exits_3_and_frees_the_store_s_lock_after_a_run_under_way(monkeypatch, tmp_path) -> None:
    from pipeline import cli
    from pipeline.retrain import command, service

    training = _Training()
    real_run = service.Retrainer.run

    def run(self: Retrainer, *, once: bool = False) -> int:
        monkeypatch.setattr(runs, "run_cycle", training)
        due = iter(["labels"])
        monkeypatch.setattr(self, "due", lambda: next(due, None))
        consumer = _Consumer(self, [{}] + [AWAY] * 50)
        monkeypatch.setattr(self, "_clients", lambda: (consumer, _Producer()))
        monkeypatch.setattr(self, "_assign", lambda c: [LABELS, READINGS])
        monkeypatch.setattr(self, "_current_model", lambda level=logging.WARNING: ("v1", None, None))
        monkeypatch.setattr(self.outage, "monotonic", lambda: 1000.0 + 11.0 * len(consumer.ready))
        monkeypatch.setattr(self._stop, "wait", lambda timeout=None: self._stop.is_set())
        return real_run(self, once=once)

    monkeypatch.setattr(service.Retrainer, "run", run)
    monkeypatch.setattr("pipeline.topics.provision_topics", lambda *a, **k: None)
    monkeypatch.setattr("pipeline.registry.current", lambda registry: ("v1", Path(registry) / "v1.dhag"))
    (tmp_path / "registry").mkdir()
    settings = Settings.model_validate(
        {
            "kafka": {"bootstrap_servers": "k:9092", "unavailable_exit_s": 10.0},
            "model": {"registry": str(tmp_path / "registry")},
            "metrics": {"enabled": False},
            "retrain": {"label_store": str(tmp_path / "labels.db"), "on_drift": False},
        }
    )
    try:
        assert command.run_retrain(settings, once=False) == cli.EXIT_BROKER == 3
        assert training.saw_stop and not training.published
        with command.only_retrainer(Path(tmp_path / "labels.db")) as alone:
            assert alone  # released: a retrainer started next takes the store
    finally:
        training.release.set()
