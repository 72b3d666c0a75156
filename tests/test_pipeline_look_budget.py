"""The look at the positions holds up the next poll: it is given half of ``kafka.max_poll_interval_ms``
at most (the other half is the batch's), all its broker calls together, so that a broker that does not
answer it cannot cost the consumer its place in the group."""

from __future__ import annotations

import types

import numpy as np
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from test_pipeline_backlog_silence import P0, P1, _Rig

from pipeline.endoffsets import positions_waiting


def test_a_look_the_broker_does_not_answer_keeps_the_polls_within_the_poll_interval(fitted, monkeypatch):
    # The look waited kafka.request_timeout_ms (30 s) for the end offsets, as long as the default
    # max_poll_interval_ms: one look that timed out, after a batch, and the group took the partitions.
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 2.0)
    rig.sends("b", P1, 2.0)
    asked: list[int] = []

    def unanswered(partitions: list[TopicPartition], timeout_ms: int) -> dict:
        asked.append(timeout_ms)
        rig.clock[0] += timeout_ms / 1000  # waits for its whole timeout
        raise KafkaTimeoutError("Failed to get offsets by timestamps")

    polls: list[tuple[float, float]] = []  # (began, returned)
    poll = rig.member.poll

    def timed(timeout_ms: int, max_records: int) -> dict:
        began = rig.clock[0]
        out = poll(timeout_ms=timeout_ms, max_records=max_records)
        polls.append((began, rig.clock[0]))
        return out

    monkeypatch.setattr(rig.member, "end_offsets", unanswered)
    monkeypatch.setattr(rig.member, "poll", timed)
    rig.run_until(300.0)
    assert len(asked) >= 3
    interval_s = rig.daemon.kafka.max_poll_interval_ms / 1000
    gaps = [b - a for (_, a), (b, _) in zip(polls, polls[1:], strict=False)]
    assert max(gaps) <= interval_s / 2, f"{max(gaps):.0f}s between polls (of {interval_s:.0f}s)"


class _Slow:
    """A consumer whose two leaders never answer for the end offsets, and whose positions are not known:
    every call waits for its whole timeout on ``clock``."""

    def __init__(self, clock: list[float], partitions: list[TopicPartition]) -> None:
        self.clock = clock
        self.leaders = {tp: tp.partition % 2 for tp in partitions}
        cluster = types.SimpleNamespace(leader_for_partition=self.leaders.get)
        self._client = types.SimpleNamespace(cluster=cluster)

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict:
        self.clock[0] += timeout_ms / 1000
        if any(self.leaders[tp] == 1 for tp in partitions):
            raise KafkaTimeoutError("Failed to get offsets by timestamps")
        return {tp: 100 for tp in partitions}  # leader 0 answers, at the end of its time

    def position(self, tp: TopicPartition, timeout_ms: int) -> int | None:
        self.clock[0] += timeout_ms / 1000  # the committed offset is not read in time
        return None

    def highwater(self, tp: TopicPartition) -> None:
        return None


def test_one_look_stays_within_its_time_whatever_its_calls_wait(monkeypatch):
    # Each position was given the look's whole time: four partitions whose position was not known
    # made one look wait five times as long as it was given.
    clock = [1000.0]
    monkeypatch.setattr("pipeline.endoffsets.time.monotonic", lambda: clock[0])
    partitions = [TopicPartition("in", p) for p in range(4)]
    unanswered: set[TopicPartition] = set()
    found = positions_waiting(_Slow(clock, partitions), partitions, 15_000, unanswered)  # type: ignore[arg-type]
    assert clock[0] - 1000.0 <= 15.0 + 1e-6
    assert found == {} and unanswered == {tp for tp in partitions if tp.partition % 2}


def test_a_look_after_a_slow_batch_gets_only_what_the_batch_left_of_the_poll_interval(fitted, monkeypatch):
    # The look got half of the poll interval from when it began: after a batch that took 20 s of the
    # 30 s, a look the broker did not answer took 15 s more, and the next poll came 35 s after the last.
    rig = _Rig(fitted, monkeypatch)
    rig.sends("a", P0, 2.0)
    rig.sends("b", P1, 2.0)
    asked: list[int] = []

    def unanswered(partitions: list[TopicPartition], timeout_ms: int) -> dict:
        asked.append(timeout_ms)
        rig.clock[0] += timeout_ms / 1000
        raise KafkaTimeoutError("Failed to get offsets by timestamps")

    handle = rig.daemon._handle
    slow_s = [20.0, 26.0]  # the batches take these, in turn: the second leaves too little for a look

    def slow(records: list) -> None:
        rig.clock[0] += slow_s[len(polls) % 2]
        handle(records)

    polls: list[tuple[float, float]] = []
    poll = rig.member.poll

    def timed(timeout_ms: int, max_records: int) -> dict:
        began = rig.clock[0]
        out = poll(timeout_ms=timeout_ms, max_records=max_records)
        polls.append((began, rig.clock[0]))
        return out

    monkeypatch.setattr(rig.member, "end_offsets", unanswered)
    monkeypatch.setattr(rig.member, "poll", timed)
    monkeypatch.setattr(rig.daemon, "_handle", slow)
    rig.run_until(600.0)
    assert len(asked) >= 5  # the looks are made, put off to the next batch when one left too little
    interval_s = rig.daemon.kafka.max_poll_interval_ms / 1000
    gaps = [b - a for (_, a), (b, _) in zip(polls, polls[1:], strict=False)]
    assert max(gaps) < interval_s, f"{max(gaps):.0f}s between polls (of {interval_s:.0f}s)"


def test_looks_are_made_through_a_backlog_whose_batches_leave_too_little_for_them(fitted, monkeypatch):
    # A one-second kafka.max_poll_interval_ms: the batch limit sizes batches to 0.4 s, which leaves the
    # look 0.35 s of the three quarters of the interval, under the half second a look needs. Through a
    # backlog the daemon never idles, so the look was put off at every turn: while the backlog lasted
    # (here seven minutes) no lag, no stall and no read-through time was set, and nothing said so.
    rig = _Rig(fitted, monkeypatch, kafka={"max_poll_interval_ms": 1000})
    monkeypatch.setattr("pipeline.daemon.time.perf_counter", lambda: rig.clock[0])
    handle = rig.daemon._handle

    def slow(records: list) -> None:  # 40 ms a record
        rig.clock[0] += 0.04 * len(records)
        handle(records)

    looks: list[float] = []
    ends = rig.member.end_offsets

    def looked(partitions: list[TopicPartition], timeout_ms: int) -> dict:
        looks.append(rig.clock[0] - rig.started)
        return ends(partitions, timeout_ms)

    polls: list[tuple[float, float]] = []  # (began, returned)
    poll = rig.member.poll

    def timed(timeout_ms: int, max_records: int) -> dict:
        began = rig.clock[0]
        out = poll(timeout_ms=timeout_ms, max_records=max_records)
        polls.append((began, rig.clock[0]))
        return out

    monkeypatch.setattr(rig.daemon, "_handle", slow)
    monkeypatch.setattr(rig.member, "end_offsets", looked)
    monkeypatch.setattr(rig.member, "poll", timed)
    for tp in (P0, P1):
        for _ in range(3000):
            rig.member.write(tp, "a" if tp == P0 else "b", np.zeros(4))
    rig.run_until(400.0)
    assert sum(rig.member.at.values()) < 6000, "the backlog was read before the end"
    gaps = [b - a for a, b in zip([0.0, *looks], [*looks, 400.0], strict=False)]
    assert len(looks) >= 10 and max(gaps) <= 2 * rig.period_s, looks
    interval_s = rig.daemon.kafka.max_poll_interval_ms / 1000
    between = [b - a for (_, a), (b, _) in zip(polls, polls[1:], strict=False)]
    assert max(between) < interval_s
