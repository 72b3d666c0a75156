"""A stop that comes while a stalled consumer is being replaced: the daemon ends in order, without a
consumer, and what it processed but could not commit is read again after the restart."""

from __future__ import annotations

from kafka import OffsetAndMetadata
from kafka.errors import KafkaTimeoutError
from test_pipeline_stall_timer import P0, P1, PERIOD_S, _started


def test_a_stop_during_a_replacement_whose_commit_failed_ends_cleanly(fitted, monkeypatch) -> None:
    # The commit before the replacement failed and the stop came while the old consumer closed: the
    # daemon was left without a consumer, and the idle poll's commit of the offsets still pending (of
    # a partition revoked while its batch was processed: kafka-python revokes on its IO thread, so the
    # batch's offsets came after the revoke had taken the pending ones) failed an assertion instead of
    # the loop ending.
    rig, consumer = _started(fitted, monkeypatch, {P0})
    daemon = rig.daemon
    commits: list[dict] = []

    def refused(offsets: dict[object, OffsetAndMetadata], timeout_ms: int) -> None:
        commits.append(offsets)
        raise KafkaTimeoutError("the commit was not answered in time")

    def close(autocommit: bool, timeout_ms: int) -> None:
        consumer.closed = True
        daemon.request_stop()  # a SIGTERM while the stalled consumer closes

    monkeypatch.setattr(consumer, "commit", refused, raising=False)
    monkeypatch.setattr(consumer, "close", close)
    daemon._pending[P1] = 40  # its batch ended after partition 1 was revoked; the commit timed out
    for _ in range(4):  # records wait on partition 0 and nothing is fetched: an empty poll each period
        rig.now += PERIOD_S
        daemon._idle()
        if rig.replaced:
            break
    assert rig.replaced == 1 and consumer.closed and commits
    assert daemon.consumer is None and daemon._stop.is_set()
    daemon._idle()  # the loop's turn after the replacement, with the stop already requested
    daemon._close()
    assert daemon._pending == {P1: 40} and consumer.closed  # not committed: read again after a restart
