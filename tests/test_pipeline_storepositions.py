"""The label store's own Kafka positions (pipeline.retrain.storepositions), against a consumer stand-in:
a store from before they were kept, records gone from the topic, a recreated topic, a refused label."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from log_support import own_text

from pipeline.labelstore import LabelStore
from pipeline.retrain.storepositions import mark_new, positions, record, resume

LABELS = TopicPartition("operator-labels", 0)
ALERTS = TopicPartition("anomaly-alerts", 1)


class _Consumer:
    def __init__(self, committed: dict, first: dict | None = None, last: dict | None = None) -> None:
        self._committed, self._first, self._last = committed, first or {}, last or {}

    def committed(self, tp: TopicPartition) -> int | None:
        return self._committed.get(tp)

    def beginning_offsets(self, parts: list) -> dict:
        return {tp: self._first.get(tp, 0) for tp in parts}

    def end_offsets(self, parts: list) -> dict:
        return {tp: self._last.get(tp, 10_000) for tp in parts}


def _old_store(tmp_path: Path) -> LabelStore:
    """A store a retrainer from before positions were kept has used."""
    store = LabelStore(tmp_path / "l.sqlite")
    store.add_alert({"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 1.0, "values": {}})
    store.set_state("last_success_at", "1.0")
    store.commit()
    return store


def test_a_store_from_before_positions_were_kept_trusts_the_group_and_keeps_them_from_then_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _old_store(tmp_path)
    assert not mark_new(store) and positions(store) is None
    with caplog.at_level(logging.WARNING):
        starts = resume(store, _Consumer({LABELS: 7}), [LABELS, ALERTS], "dhag-retrainer")
    assert starts == {LABELS: 7, ALERTS: None}  # ALERTS: never committed, read from its start as before
    assert positions(store) == {"operator-labels/0": 7}
    assert own_text(caplog) == ""


def test_a_new_store_reads_what_the_group_read_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    assert mark_new(store) and positions(store) == {}
    assert not mark_new(store)  # once
    with caplog.at_level(logging.WARNING):
        starts = resume(store, _Consumer({LABELS: 7}), [LABELS, ALERTS], "dhag-retrainer")
    assert starts == {LABELS: None, ALERTS: None}
    assert "has not read operator-labels/0, which the group dhag-retrainer read up to offset 7" in caplog.text
    assert "anomaly-alerts/1" not in caplog.text  # nobody read it: nothing to say


def test_records_gone_from_the_topic_are_named_and_what_is_left_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    mark_new(store)
    record(store, {LABELS: 5, ALERTS: 3})
    consumer = _Consumer({LABELS: 40, ALERTS: 3}, first={LABELS: 12}, last={LABELS: 40, ALERTS: 3})
    with caplog.at_level(logging.WARNING):
        starts = resume(store, consumer, [LABELS, ALERTS], "g")
    assert starts == {LABELS: 12, ALERTS: 3}
    assert "operator-labels/0 up to offset 5, the group g up to 40" in caplog.text
    assert "retains it only from 12: the 7 records between are gone" in caplog.text


def test_a_recreated_topic_is_read_from_its_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    mark_new(store)
    record(store, {LABELS: 50})
    with caplog.at_level(logging.WARNING):
        starts = resume(store, _Consumer({LABELS: 50}, last={LABELS: 4}), [LABELS], "g")
    assert starts == {LABELS: None}
    assert "holds records only up to 4 (the topic was recreated?)" in caplog.text


def test_without_the_topics_retention_it_resumes_from_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class _Slow(_Consumer):
        def beginning_offsets(self, parts: list) -> dict:
            raise KafkaTimeoutError("no answer")

    store = LabelStore(tmp_path / "l.sqlite")
    mark_new(store)
    record(store, {LABELS: 5})
    with caplog.at_level(logging.WARNING):
        assert resume(store, _Slow({LABELS: 5}), [LABELS], "g") == {LABELS: 5}
    assert "cannot look up what the topics retain" in caplog.text


def test_positions_are_written_with_the_store_not_before_its_commit(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "l.sqlite")
    mark_new(store)
    record(store, {LABELS: 9})
    store._db.rollback()  # a crash before the commit: the poll's records and its positions both lost
    assert positions(store) == {}
    record(store, {LABELS: 9})
    store.commit()
    assert positions(LabelStore(tmp_path / "l.sqlite")) == {"operator-labels/0": 9}
