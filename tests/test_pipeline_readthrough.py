"""The read-through time of a partition (pipeline.readthrough): the look and the reads that move it."""

from __future__ import annotations

import math

from pipeline.heldclock import HeldClock
from pipeline.readthrough import ReadThrough

TP = ("in", 0)


def test_a_partition_more_than_a_period_behind_moves_on_one_noted_end_at_a_time() -> None:
    # Each look finds records waiting past the end the look before found: were the end noted anew at
    # every look, the daemon (always more than a look behind) would never reach it, and the partition
    # would never be read through however steadily it is read.
    reads = ReadThrough()
    reads.looked({TP: (0, 100)}, now=0.0)
    reads.looked({TP: (60, 140)}, now=30.0)  # the end noted at 0 s not reached yet
    reads.read({TP: 100})
    assert reads.until(TP, now=45.0) == 0.0
    reads.looked({TP: (150, 150)}, now=60.0)  # the next end: 300
    reads.read({TP: 299})
    assert reads.until(TP, now=90.0) == 0.0
    reads.read({TP: 300})
    assert reads.until(TP, now=90.0) == 60.0


def test_a_position_past_the_noted_end_reads_the_partition_through() -> None:
    # The end counts a transaction's commit marker (or records compacted away): no record delivered
    # reaches it, the consumer's position does.
    reads = ReadThrough()
    reads.looked({TP: (0, 5)}, now=0.0)
    reads.read({TP: 4})  # records 0-3; offset 4 is the marker
    assert reads.until(TP, now=20.0) == -math.inf
    reads.looked({TP: (5, 7)}, now=30.0)  # more came meanwhile
    assert reads.until(TP, now=40.0) == 0.0


def test_a_look_while_the_clock_is_held_is_judged_on_the_held_clock() -> None:
    # Looks on the DLQ pause's held clock: its time stands at the pause, so a partition read through
    # at a look during the pause is judged at the pause's time, and the paused minutes are no silence.
    real = [1000.0]
    clock = HeldClock(lambda: real[0])
    reads = ReadThrough()
    reads.looked({TP: (10, 0)}, now=clock())
    clock.hold("dlq")
    real[0] += 600.0
    reads.looked({TP: (10, 40)}, now=clock())  # the paused partition's records wait
    assert reads.until(TP, now=clock()) == 1000.0
    clock.release("dlq")
    real[0] += 20.0
    reads.read({TP: 50})
    assert reads.until(TP, now=clock()) == 1000.0 < clock() == 1020.0


def test_forgotten_partitions_keep_nothing() -> None:
    reads = ReadThrough()
    for n in range(50):  # partitions that came and went, with ends noted
        reads.looked({("in", n): (0, 5), ("in", n + 100): (3, 0)}, now=float(n))
        reads.forget([("in", n), ("in", n + 100)])
    assert reads.until(("in", 7), now=100.0) == -math.inf
    assert not reads._at and not reads._next


def test_a_log_cut_below_the_noted_end_is_read_through_at_its_new_end() -> None:
    # After an unclean leader election the log may end below the end a look noted: the records above
    # it are gone, and waiting for them held the partition's silence back until new records passed it.
    reads = ReadThrough()
    reads.looked({TP: (0, 500)}, now=0.0)  # end 500 noted at 0 s
    reads.looked({TP: (100, 200)}, now=30.0)  # the log now ends at 300
    reads.read({TP: 300})
    assert reads.until(TP, now=40.0) == 0.0  # the records before 0 s that remain are read
    reads.looked({TP: (300, 0)}, now=60.0)
    assert reads.until(TP, now=70.0) == 60.0


def test_looks_that_keep_failing_warn_once_in_ten_minutes(monkeypatch, caplog) -> None:
    # A broker that will not say its end offsets fails every look, one per kafka.request_timeout_ms:
    # before, each one logged a warning, for as long as it lasted.
    from kafka.errors import KafkaTimeoutError

    from pipeline import endoffsets
    from pipeline.backoff import ThrottledLog

    class NoEnds:
        def end_offsets(self, partitions, timeout_ms):
            raise KafkaTimeoutError("no answer")

    monkeypatch.setattr(endoffsets, "_LOOK_LOG", ThrottledLog(endoffsets.log, 600.0))
    with caplog.at_level("WARNING", logger="pipeline.daemon"):
        for _ in range(5):
            assert endoffsets.positions_waiting(NoEnds(), [TP], timeout_ms=10) is None
    assert [r.getMessage() for r in caplog.records] == [
        "cannot compare positions with the broker's end offsets: KafkaTimeoutError: no answer"
    ]
