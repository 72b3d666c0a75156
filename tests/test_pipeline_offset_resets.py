"""Positions kafka-python resets on its own (``kafka.auto_offset_reset``) are said and counted, above all
input records a reset jumped over unread (``pipeline/offsetresets.py``)."""

from __future__ import annotations

import inspect
import logging

import kafka.consumer.fetcher
import numpy as np
import pytest
from kafka import TopicPartition
from pipeline_kafka import make_settings, normal_rows, produce, reading, running_daemon, sample, wait_for

from pipeline.offsetresets import FETCHER_LOGGER, OUT_OF_RANGE, RESET, Reset, watch

pytestmark = pytest.mark.integration


def test_the_watched_messages_are_the_installed_kafka_python_s() -> None:
    # The watch matches kafka-python's log formats: a release that words them otherwise would leave
    # skipped records unsaid, so it fails here instead.
    source = inspect.getsource(kafka.consumer.fetcher)
    assert f'log.info("{OUT_OF_RANGE}",' in source
    assert f'log.info("{RESET}", partition, offset)' in source


def test_the_watch_shows_nothing_more_in_the_log(caplog) -> None:
    kafka_logger, fetcher = logging.getLogger("kafka"), logging.getLogger(FETCHER_LOGGER)
    level = fetcher.level
    try:
        kafka_logger.setLevel(logging.CRITICAL)  # as the daemon's logging sets it
        fetcher.setLevel(logging.NOTSET)  # as a logging set-up may leave it: watch() sets it again
        resets = watch()
        resets.take()
        with caplog.at_level(logging.DEBUG):
            fetcher.info(RESET, TopicPartition("sensors", 1), 7)
            fetcher.info("Fetch to node %s failed: %s", 1, "cancelled")
        assert not [r for r in caplog.records if r.name == FETCHER_LOGGER]
        assert resets.take() == [Reset("sensors", 1, 7)]
        assert resets.take() == []
    finally:
        fetcher.setLevel(level)


def _lines(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipeline.daemon" and r.levelno == level]


def test_a_new_group_says_where_it_starts_and_skips_nothing(tansu, fitted, model_registry, caplog) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry)
    rng = np.random.default_rng(3)
    items = [(b"p1", reading("p1", 1_790_000_000.0 + i, row)) for i, row in enumerate(normal_rows(rng, 20))]
    produce(bs, settings.kafka.topics.input, items)
    with (
        caplog.at_level(logging.INFO, logger="pipeline.daemon"),
        running_daemon(settings, fitted, bs) as (_, registry),
    ):
        wait_for(lambda: sample(registry, "dhag_records_consumed_total") >= len(items), 30, "reading")
        partitions = sample(registry, "dhag_input_position_resets_total", {"reason": "no_commit"})
        assert partitions >= 1  # every partition of the new group's input topic, the one read first
        assert sample(registry, "dhag_input_records_skipped_total") == 0
        assert sample(registry, "dhag_input_records_skipped_age_seconds") == float("inf")
    said = [line for line in _lines(caplog, logging.INFO) if "has no committed position" in line]
    assert said and all(settings.kafka.group_id in line and "earliest" in line for line in said), said
    assert len(said) <= partitions  # one line for the partitions of one poll


def test_records_deleted_before_they_were_read_are_counted_and_said(
    tansu, fitted, model_registry, caplog
) -> None:
    # The embedded broker enforces no retention, so kafka-python's two records are logged here as its
    # fetcher logs them (the first test holds their formats), from another thread, while the daemon runs.
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry)
    topic = settings.kafka.topics.input
    rng = np.random.default_rng(4)
    produce(bs, topic, [(b"p1", reading("p1", 1_790_000_000.0, normal_rows(rng, 1)[0]))])
    fetcher = logging.getLogger(FETCHER_LOGGER)
    with (
        caplog.at_level(logging.INFO, logger="pipeline.daemon"),
        running_daemon(settings, fitted, bs) as (daemon, registry),
    ):
        wait_for(lambda: sample(registry, "dhag_records_consumed_total") >= 1, 30, "reading")
        owned = sorted(tp.partition for tp in daemon.consumer.assignment())
        fetcher.info(OUT_OF_RANGE, 120, TopicPartition(topic, owned[0]))
        fetcher.info(RESET, TopicPartition(topic, owned[0]), 5000)
        fetcher.info(OUT_OF_RANGE, 900, TopicPartition(topic, owned[-1]))  # beyond the log's end
        fetcher.info(RESET, TopicPartition(topic, owned[-1]), 40)
        fetcher.info(RESET, TopicPartition("another-topic", 0), 1)  # another consumer's: not ours
        wait_for(lambda: sample(registry, "dhag_input_records_skipped_total") == 4880, 10, "the count")
        assert sample(registry, "dhag_input_records_skipped_age_seconds") < 60
        resets = ("dhag_input_position_resets_total", {"reason": "out_of_range"})
        wait_for(lambda: sample(registry, *resets) == 2, 10, "resets")
    errors = _lines(caplog, logging.ERROR)
    assert (
        len(errors) == 1 and f"{topic}[{owned[0]}]: records 120 to 4999 (4880) were never read" in errors[0]
    )
    assert "deleted by the topic's retention" in errors[0] and "DhagInputRecordsSkipped" in errors[0]
    warned = [line for line in _lines(caplog, logging.WARNING) if "lies beyond the partition's last" in line]
    assert len(warned) == 1 and "reading again from offset 40" in warned[0]
    assert not any("another-topic" in r.getMessage() for r in caplog.records if r.name == "pipeline.daemon")
