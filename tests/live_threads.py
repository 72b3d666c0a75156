"""The service's processes run in threads of a test: the retrainer (``retrain --watch``) with its metrics
served, and the simulated plant streaming to the broker (the live deploy test's)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry

from pipeline.config import Settings
from pipeline.labelstore import LabelStore
from pipeline.metrics import RetrainMetrics, serve_metrics
from pipeline.retrain.command import label_store_path
from pipeline.retrain.service import Retrainer
from pipeline.simulator.fleet import Fleet
from pipeline.simulator.stream import stream_fleet


@contextmanager
def running_retrainer(settings: Settings, bootstrap: str) -> Iterator[int]:
    """The retrainer (``retrain --watch``) in a thread, its metrics on a free loopback port (yielded)."""
    metrics_registry = CollectorRegistry()
    metrics = RetrainMetrics(metrics_registry)
    server, port = serve_metrics(metrics_registry, "127.0.0.1", 0)
    started = threading.Event()
    retrainers: list[Retrainer] = []
    codes: list[int] = []

    def work() -> None:
        store = LabelStore(label_store_path(settings))  # SQLite: opened in the thread that uses it
        try:
            retrainers.append(Retrainer(settings, store, metrics, bootstrap_servers=bootstrap))
            started.set()
            codes.append(retrainers[0].run())
        finally:
            started.set()
            store.close()

    thread = threading.Thread(target=work, name="retrainer", daemon=True)
    thread.start()
    try:
        assert started.wait(30) and retrainers, "the retrainer did not start"
        yield port
    finally:
        if retrainers:
            retrainers[0].request_stop()
        thread.join(60)
        server.shutdown()
        assert not thread.is_alive(), "the retrainer did not stop within 60 s"
    assert codes == [0], f"the retrainer exited with {codes}"


@contextmanager
def streaming_plant(
    fleet: Fleet, bootstrap: str, topic: str, truth_topic: str, *, rate: float, speedup: float
) -> Iterator[None]:
    """The simulated plant streaming to ``topic`` from a thread, at ``rate`` records/s and ``speedup``
    simulated seconds per second, until the block ends."""
    stop = threading.Event()
    kwargs = {"topic": topic, "truth_topic": truth_topic, "rate": rate, "speedup": speedup, "stop": stop}
    thread = threading.Thread(
        target=stream_fleet, args=(fleet, bootstrap), kwargs=kwargs, name="plant", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
