"""A produce outage is timed while the daemon owes the broker output: a failed batch that is no longer
this consumer's to retry, or resolutions no longer due, leave nothing to deliver, and nothing to prove
that produce works again. Such an outage must neither end the run nor hold the alert clock."""

from __future__ import annotations

import types

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from prometheus_client import CollectorRegistry

from pipeline.batchoutput import BatchOutput, Outgoing
from pipeline.config import KafkaSettings, Settings
from pipeline.daemon import Daemon
from pipeline.delivery import DeliveryError
from pipeline.errors import BrokerUnavailableError
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor

P0, P1 = TopicPartition("sensor-readings", 0), TopicPartition("sensor-readings", 1)
ALERT = Outgoing("anomaly-alerts", b"a", b"{}")


def _record(tp: TopicPartition, offset: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset)


class _Consumer:
    """Connected, holding ``held``; each poll takes ``step_s`` and returns the next of ``script`` (a
    callable: what the poll returns, with whatever the group does meanwhile), then empty polls."""

    def __init__(self, clock: list[float], held: set[TopicPartition], script: list, step_s: float = 1.0):
        self.clock, self.held, self.script, self.step_s = clock, set(held), list(script), step_s
        self.seeks: list[tuple[TopicPartition, int]] = []

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.clock[0] += self.step_s
        return self.script.pop(0)() if self.script else {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def paused(self) -> set[TopicPartition]:
        return set()

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[TopicPartition, int]:
        return {tp: 100 for tp in partitions}

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return 100

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def highwater(self, tp: TopicPartition) -> int:
        return 100

    def commit(self, offsets: dict, timeout_ms: int) -> None:
        pass

    def commit_async(self, offsets: dict) -> None:
        pass


def _daemon(fitted, monkeypatch, clock: list[float]) -> tuple[Daemon, PipelineMetrics]:
    for module in ("pipeline.daemon", "pipeline.brokerlink", "pipeline.backoff", "pipeline.rebalance"):
        monkeypatch.setattr(f"{module}.time.monotonic", lambda: clock[0])
    settings = Settings(kafka=KafkaSettings(unavailable_exit_s=120.0))
    metrics = PipelineMetrics(CollectorRegistry())
    daemon = Daemon(
        settings, BatchProcessor(settings, fitted, "v1", metrics), metrics, bootstrap_servers="x:9092"
    )
    monkeypatch.setattr(daemon.health._backoff, "next_delay", lambda: 0.0)
    monkeypatch.setattr(daemon.delivery, "replace", lambda: None)
    monkeypatch.setattr(daemon, "_carry_over", lambda partitions, deadline=None: False)
    monkeypatch.setattr(daemon, "_restart_consumer", lambda: pytest.fail("no stall here"))
    return daemon, metrics


def _refuse_any(messages: list[Outgoing]) -> None:
    """A broker that acknowledges nothing (nothing to send is no delivery either)."""
    if messages:
        raise DeliveryError("not acknowledged")


def _run_for(daemon: Daemon, clock: list[float], seconds: float) -> None:
    """Run the loop for ``seconds`` of the fake clock (BrokerUnavailableError goes on to the test)."""
    end, consumer = clock[0] + seconds, daemon.consumer
    real_poll = consumer.poll

    def poll(**kwargs: int) -> dict:
        if clock[0] >= end:
            daemon._stop.set()
        return real_poll(**kwargs)

    consumer.poll = poll
    daemon._loop()


def test_a_failed_batch_whose_partition_moved_away_leaves_no_outage_to_end_the_run(fitted, monkeypatch):
    # The batch of partition 0 was refused (a broker restarting); before it came back, a rebalance gave
    # partition 0 to another replica. This one had nothing more to send (a quiet night on partition 1),
    # so no delivery ever ended the produce outage: it exited with code 3 after unavailable_exit_s, and
    # the alert clock stood still until then.
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock)
    consumer = _Consumer(clock, {P0, P1}, [])

    def moved() -> dict:
        daemon._on_revoked({P0, P1}, lost=False)
        consumer.held = {P1}
        daemon._on_assigned({P1})
        return {}

    consumer.script = [lambda: {P0: [_record(P0, 100)]}, moved]
    daemon.consumer = consumer  # type: ignore[assignment]
    outputs = iter([BatchOutput(messages=[ALERT], offsets={(P0.topic, 0): 101})])
    monkeypatch.setattr("pipeline.batchcommit.process_guarded", lambda processor, records: next(outputs))

    monkeypatch.setattr(daemon.delivery, "deliver", _refuse_any)
    held_at = daemon.clock()
    _run_for(daemon, clock, 600.0)  # no BrokerUnavailableError
    assert consumer.seeks == [(P0, 100)]
    assert daemon.health.failing_since is None
    assert metrics.broker_connected._value.get() == 1
    assert daemon.clock() > held_at + 500.0  # the alert clock runs again


def test_resolutions_no_longer_due_leave_no_outage_behind(fitted, monkeypatch):
    # An idle sweep's resolutions were refused and rolled back; batches came next, one after the other,
    # that kept the episode open, so no resolution was due any more, and nothing (no scores topic) was
    # sent again. The produce outage stayed open: the alert clock stood still and no stall was judged
    # for as long as records came, and the first commit timeout hours later ended the run at once.
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock)
    batches = [lambda n=n: {P0: [_record(P0, 100 + n)]} for n in range(100)]  # busy: never idle again
    consumer = _Consumer(clock, {P0}, [lambda: {}, *batches])
    daemon.consumer = consumer  # type: ignore[assignment]
    sweeps = iter([[ALERT]])
    monkeypatch.setattr(daemon.processor, "sweep", lambda: next(sweeps, []))
    monkeypatch.setattr(
        "pipeline.batchcommit.process_guarded",
        lambda processor, records: BatchOutput(offsets={(P0.topic, 0): records[-1].offset + 1}),
    )

    monkeypatch.setattr(daemon.delivery, "deliver", _refuse_any)
    _run_for(daemon, clock, 5.0)
    assert len(consumer.script) > 90  # (busy all along)
    assert daemon.health.failing_since is None
    clock[0] += 4 * 3600.0
    daemon._stop.clear()
    daemon.health.failure("commit", KafkaTimeoutError("one transient timeout"))  # no exit


def test_a_batch_still_owed_keeps_its_produce_outage_timed(fitted, monkeypatch):
    # The refused batch's partition is still this consumer's, but its records have not come back yet
    # (empty polls): the outage goes on, and ends the run when produce never works again.
    clock = [10_000.0]
    daemon, _ = _daemon(fitted, monkeypatch, clock)
    consumer = _Consumer(clock, {P0}, [lambda: {P0: [_record(P0, 100)]}])
    daemon.consumer = consumer  # type: ignore[assignment]
    monkeypatch.setattr(
        "pipeline.batchcommit.process_guarded",
        lambda processor, records: BatchOutput(messages=[ALERT], offsets={(P0.topic, 0): 101}),
    )
    monkeypatch.setattr(daemon.delivery, "deliver", _refuse_any)
    with pytest.raises(BrokerUnavailableError):
        _run_for(daemon, clock, 600.0)
    assert clock[0] - 10_000.0 < 200.0


def test_a_refused_batch_is_still_owed_while_its_partitions_are_lost_until_the_group_answers(
    fitted, monkeypatch
):
    # A broker restart: the batch of partition 0 is refused, then the consumer loses its partitions
    # (assignment() empty until the group answers). Counted as gone elsewhere, the outage was no
    # longer timed, and started anew each time the partitions came back and were refused again.
    clock = [10_000.0]
    daemon, _ = _daemon(fitted, monkeypatch, clock)
    consumer = _Consumer(clock, {P0}, [])

    def lost() -> dict:
        daemon._on_revoked({P0}, lost=True)
        consumer.held = set()
        return {}

    consumer.script = [lambda: {P0: [_record(P0, 100)]}, lost] + [dict] * 10
    daemon.consumer = consumer  # type: ignore[assignment]
    monkeypatch.setattr(
        "pipeline.batchcommit.process_guarded",
        lambda processor, records: BatchOutput(messages=[ALERT], offsets={(P0.topic, 0): 101}),
    )
    monkeypatch.setattr(daemon.delivery, "deliver", _refuse_any)
    _run_for(daemon, clock, 8.0)
    assert daemon.health.failing("produce") and daemon.health.failing_since == 10_001.0


def test_output_refused_for_one_partition_while_another_delivers_never_ends_the_run(fitted, monkeypatch):
    # The alerts topic refuses this client (an ACL, a partition without a leader) while the scores
    # topic takes its messages: partition 0's batch, which opens an episode, is refused every time,
    # partition 1's batches of scores are delivered, each ending the produce outage. The daemon never
    # gives up and partition 0 never moves; only the count of refused deliveries keeps rising, which
    # DhagOutputRefused watches (dhag_broker_connected is 1 for most of the time).
    clock = [10_000.0]
    daemon, metrics = _daemon(fitted, monkeypatch, clock)
    script = [
        b for n in range(400) for b in (lambda: {P0: [_record(P0, 100)]}, lambda n=n: {P1: [_record(P1, n)]})
    ]
    consumer = _Consumer(clock, {P0, P1}, script)
    daemon.consumer = consumer  # type: ignore[assignment]
    score = Outgoing("anomaly-scores", b"s", b"{}")

    outage_s: list[float] = []

    def process(processor, records) -> BatchOutput:
        outage_s.append(clock[0] - (daemon.health.failing_since or clock[0]))
        rec = records[-1]
        if rec.partition == 0:
            return BatchOutput(messages=[ALERT, score], offsets={(P0.topic, 0): rec.offset + 1})
        return BatchOutput(messages=[score], offsets={(P1.topic, 1): rec.offset + 1})

    def deliver(messages: list[Outgoing]) -> None:
        if any(m.topic == ALERT.topic for m in messages):
            raise DeliveryError("1 of 2 messages to anomaly-alerts not acknowledged")

    monkeypatch.setattr("pipeline.batchcommit.process_guarded", process)
    monkeypatch.setattr(daemon.delivery, "deliver", deliver)
    _run_for(daemon, clock, 600.0)  # ten times kafka.unavailable_exit_s, and no BrokerUnavailableError
    assert consumer.seeks.count((P0, 100)) >= 290 and daemon._pending.get(P0) is None
    refused = metrics.registry.get_sample_value("dhag_broker_failures_total", {"operation": "produce"})
    assert refused >= 290 and max(outage_s) <= 2.0  # each delivery of scores ended the outage
