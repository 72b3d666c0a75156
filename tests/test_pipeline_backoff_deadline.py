"""A broker outage's backoff never waits past the moment ``kafka.unavailable_exit_s`` ends the run: the
daemon and the retrainer exit (code 3) on time, not a backoff later."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from pipeline import brokerlink
from pipeline.brokerlink import BrokerHealth
from pipeline.config import KafkaSettings
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics
from pipeline.retrain.outage import Outage


class _Clock:
    """A monotonic clock that a wait moves on: what a stop event's ``wait`` would have slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


KAFKA = KafkaSettings(backoff_initial_s=4.0, backoff_max_s=8.0, unavailable_exit_s=10.0)


def _until_given_up(fail) -> bool:  # noqa: ANN001 - a failure of one kind or the other
    for _ in range(10):
        try:
            fail()
        except BrokerUnavailableError:
            return True
    return False


def test_the_daemon_waits_no_backoff_past_its_exit(monkeypatch) -> None:
    # Before: it waited 4 s, then 8 s, and exited 12 s into an outage that unavailable_exit_s ends at 10.
    clock = _Clock()
    monkeypatch.setattr(brokerlink.time, "monotonic", clock)
    health = BrokerHealth(KAFKA, PipelineMetrics(CollectorRegistry()), clock, "x:9092")  # type: ignore[arg-type]
    assert _until_given_up(lambda: health.failure("poll", ConnectionError("refused")))
    assert clock.waits == [4.0, 6.0]
    assert clock.now == 1010.0


def test_the_retrainer_waits_no_backoff_past_its_exit() -> None:
    clock = _Clock()
    failures = Counter("failures", "", ["operation"], registry=CollectorRegistry())
    outage = Outage(KAFKA, failures, clock, "x:9092", monotonic=clock)  # type: ignore[arg-type]
    assert _until_given_up(lambda: outage.failed("poll", ConnectionError("refused")))
    assert clock.waits == [4.0, 6.0]
    assert clock.now == 1010.0
