"""A partition without a leader, or whose leader does not answer, costs only itself its end offsets:
the others are looked at (lag, silence, stalls) as ever, and it is given up on alone after quiet_s."""

from __future__ import annotations

import types

import pytest
from kafka.errors import KafkaTimeoutError
from test_pipeline_backlog_silence import P0, P1, _Rig
from test_pipeline_stall_timer import _Consumer, _started

from pipeline.endoffsets import positions_waiting

LEADERS = {P0: 0, P1: -1}  # partition 1's leader is gone (kafka-python's metadata says -1)


def _kafka_python_end_offsets(member, *, hangs: bool = False):
    """``end_offsets`` as kafka-python 3.0 answers it: one call for every leader, and a partition whose
    leader is unknown makes it raise a KeyError (or, ``hangs``: a leader that does not answer makes the
    whole call time out)."""
    answer = member.end_offsets

    def end_offsets(partitions, timeout_ms):
        if any(LEADERS[tp] < 0 for tp in partitions):
            if hangs:
                raise KafkaTimeoutError(f"Failed to get offsets by timestamps in {timeout_ms} ms")
            ends = answer([tp for tp in partitions if LEADERS[tp] >= 0], timeout_ms)
            return {tp: ends[tp] for tp in partitions}  # the KeyError
        return answer(partitions, timeout_ms)

    return end_offsets


def _leaderless(member, monkeypatch, *, hangs: bool = False) -> None:
    leaders = {P0: 0, P1: 1} if hangs else LEADERS
    cluster = types.SimpleNamespace(leader_for_partition=lambda tp: leaders[tp])
    monkeypatch.setattr(member, "_client", types.SimpleNamespace(cluster=cluster), raising=False)
    monkeypatch.setattr(member, "end_offsets", _kafka_python_end_offsets(member, hangs=hangs))


@pytest.mark.parametrize("hangs", [False, True], ids=["no leader", "leader silent"])
def test_a_partition_without_a_leader_leaves_the_others_judged_as_read(fitted, monkeypatch, hangs):
    # One call for every partition's end: a partition without a leader raised a KeyError out of the
    # daemon's loop (a crash at every look), and one whose leader did not answer failed every look, so
    # that after quiet_s every partition was judged as of the last failed look, readings unread or not.
    rig = _Rig(fitted, monkeypatch)
    _leaderless(rig.member, monkeypatch, hangs=hangs)
    rig.sends("a", P0, 10.0)
    rig.sends("d", P0, 10.0, until=100.0)
    rig.sends("e", P1, 10.0, until=100.0)
    rig.run_until(1000.0)
    assert not rig.daemon.read_through.blind()
    gone = rig.forgotten_at("d")  # judged on partition 0's looks, as ever
    assert gone is not None and 90.0 + 300.0 <= gone <= 90.0 + 300.0 + 2 * rig.period_s + 5.0
    gone = rig.forgotten_at("e")  # partition 1: given up on after quiet_s of looks without its end
    assert gone is not None and 90.0 + 300.0 <= gone <= 90.0 + 300.0 + 2 * rig.period_s + 5.0
    assert rig.forgotten_at("a") is None
    lag = rig.daemon.metrics.registry.get_sample_value
    assert lag("dhag_consumer_lag_records", {"topic": P0.topic, "partition": "0"}) is not None


def test_a_stall_is_still_judged_beside_a_partition_without_a_leader(fitted, monkeypatch) -> None:
    rig, consumer = _started(fitted, monkeypatch, {P0, P1})
    _leaderless(consumer, monkeypatch)
    for _ in range(4):  # partition 0 never fetched, records waiting; partition 1 not answered
        rig.now += rig.daemon.positions.period_s
        rig.look()
    assert rig.replaced == 1


def test_metadata_replaced_while_its_leaders_are_read_costs_only_that_partition(monkeypatch) -> None:
    # kafka-python's IO thread swaps the whole partition table on each metadata update, and its
    # leader_for_partition looks a topic up twice: a table replaced in between, without the topic,
    # raises a KeyError, which ended the daemon's loop.
    consumer = _Consumer({P0, P1})

    def leader_for_partition(tp):
        if tp == P1:
            raise KeyError(tp.topic)
        return 0

    cluster = types.SimpleNamespace(leader_for_partition=leader_for_partition)
    consumer._client = types.SimpleNamespace(cluster=cluster)
    unanswered: set = set()
    found = positions_waiting(consumer, [P0, P1], 1_000, unanswered)
    assert found == {P0: (120, 380)} and unanswered == {P1}
