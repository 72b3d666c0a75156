"""A daemon that takes partitions up afresh (a restart, a rollout, a partition moved to it) reads back
which machines stood still in the last ``alerts.warmup_s`` (pipeline.warmupread): before, a machine
started in the hour before the daemon did was judged warm, and its cold readings opened an alert."""

from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaTimeoutError
from pipeline_kafka import make_settings, read_topic, running_daemon, sample, wait_for
from prometheus_client import CollectorRegistry
from test_pipeline_standstill import _stopped
from test_pipeline_warmup import _cold

from pipeline import warmupread
from pipeline.config import Settings
from pipeline.metrics import PipelineMetrics
from pipeline.processing import BatchProcessor
from pipeline.simulator import Fleet
from pipeline.warmup import WARMING_UP
from pipeline.warmupread import ReadBack, read_back

pytestmark = pytest.mark.integration

READ = re.compile(r"(\d+) records? of their last 3600 s read back from \S+, (\d+) at standstill")
ALERTS = {"open_after": 2, "window": 3, "resolve_after": 3}


def _plant(
    bs: str,
    topic: str,
    *,
    stopped: int = 1,
    silent: bool = False,
    stop: tuple[int, int] = (5, 15),
    minutes: int = 30,
) -> tuple[dict[int, int], list[str], int]:
    """``minutes`` of three machines at 10 s steps, dated up to now (their Kafka time too, as a gateway
    writes them): asset ``stopped`` stands still from minute ``stop[0]`` (``silent``: sending nothing),
    starts cold at ``stop[1]``. The offset by partition of each partition's first record of the minute
    after (a daemon resumes there), the asset ids, and how many records there are from then."""
    fleet = Fleet(3, seed=11, run=1)
    start = time.time() - 60.0 * minutes
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=5)
    sent = []
    for minute in range(minutes):
        if minute == stop[1]:
            _cold(fleet, stopped)
        for _ in range(6):
            t, readings = fleet.step(10.0)
            for asset, values in fleet.records(readings):
                if asset == fleet.asset_ids[stopped] and stop[0] <= minute < stop[1]:
                    if silent:  # a gateway that sends nothing of a stopped machine
                        continue
                    values = _stopped(values)
                value = orjson.dumps({"asset_id": asset, "ts": start + t, "values": values})
                stamp = int((start + t) * 1000)
                sent.append(
                    (minute, producer.send(topic, key=asset.encode(), value=value, timestamp_ms=stamp))
                )
    producer.flush(timeout=30)
    producer.close(timeout=5)
    resume: dict[int, int] = {}
    later = 0
    for minute, future in sent:
        meta = future.get(timeout=30)
        if minute > stop[1]:
            later += 1
            resume[meta.partition] = min(resume.get(meta.partition, meta.offset), meta.offset)
    return resume, fleet.asset_ids, later


def _commit(bs: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
    try:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in tps.items()})
    finally:
        consumer.close()


def _resume(tansu, plant_model, model_registry, caplog, *, commit: bool = True, **plant):  # noqa: ANN001, ANN003, ANN202
    """A daemon resuming a minute after the cold start of :func:`_plant` (``commit``; else a new group,
    from the first record): its alert events, the cold asset's state and the carry-over failures, and
    the cold asset."""
    bs = tansu.bootstrap_servers
    # A poll interval long enough that the carry-over read, on a loaded machine, leaves the read-back
    # time before the next poll (the tests' 2 s left it none under a loaded CI: a failed read).
    settings = make_settings(bs, model_registry, alerts=ALERTS, kafka={"max_poll_interval_ms": 8000})
    topics = settings.kafka.topics
    resume, assets, later = _plant(bs, topics.input, **plant)
    if commit:
        _commit(bs, settings.kafka.group_id, topics.input, resume)
    else:
        later = 3 * 6 * plant.get("minutes", 30)
    caplog.set_level(logging.INFO, logger="pipeline.warmupread")
    with running_daemon(settings, plant_model, bs) as (_daemon, registry):
        wait_for(
            lambda: sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) >= later,
            60,
            "scoring",
        )
        events = [
            orjson.loads(m.value) for m in read_topic(bs, topics.alerts, count=0, timeout_s=10, idle_s=2)
        ]
        state = sample(registry, "dhag_asset_state", {"asset": assets[1]})
        failures = sample(registry, "dhag_broker_failures_total", {"operation": "carry_over"})
    assert sample(registry, "dhag_records_processed_total", {"outcome": "ok"}) == later  # none before
    return events, (state, failures), assets[1]


def test_a_machine_started_before_the_daemon_is_known_to_warm_up(
    tansu, plant_model, model_registry, caplog
) -> None:
    events, state, cold = _resume(tansu, plant_model, model_registry, caplog)
    assert [e for e in events if e["state"] == "open"] == []
    assert state == (WARMING_UP, 0)
    said = [m.groups() for r in caplog.records if (m := READ.search(r.getMessage()))]
    # Every record before the position (minutes 0-15), of them the ten minutes standing still.
    assert len(said) == 1 and int(said[0][0]) == 3 * 6 * 16 and 50 <= int(said[0][1]) <= 60, said


def test_a_machine_that_was_silent_while_it_stood_still_is_known_to_warm_up(
    tansu, plant_model, model_registry, caplog, monkeypatch
) -> None:
    # Read back newest chunk first (chunks of 20, 40, ... records here), its readings are noted in time
    # order: the ten minutes without one, then a running one, are a start.
    monkeypatch.setattr(warmupread, "FIRST_CHUNK", 20)
    events, state, _cold = _resume(tansu, plant_model, model_registry, caplog, silent=True)
    assert [e for e in events if e["state"] == "open"] == []
    assert state == (WARMING_UP, 0)


@pytest.mark.parametrize("silence_rule", [True, False])
def test_a_machine_silent_since_before_the_window_is_known_to_warm_up(
    tansu, plant_model, model_registry, caplog, monkeypatch, silence_rule
) -> None:
    # Silent for 70 minutes, started a minute before the daemon resumes: its first reading in the
    # hour read back comes 59 minutes after the hour's start, a silence older than the window.
    if not silence_rule:  # what that rule adds: the silence seen within the window alone
        monkeypatch.setattr(warmupread.ReadingNotes, "note", _note_in_order_only)
    events, state, cold = _resume(
        tansu, plant_model, model_registry, caplog, silent=True, stop=(5, 75), minutes=80
    )
    opened = [e["asset_id"] for e in events if e["state"] == "open"]
    assert (opened, state) == (([], (WARMING_UP, 0)) if silence_rule else ([cold], (0, 0)))


def _note_in_order_only(self, warmup, reached=(), lookback_s=0.0):  # noqa: ANN001, ANN202
    return _NOTE(self, warmup)


_NOTE = warmupread.ReadingNotes.note


def test_without_the_read_back_the_cold_machine_alerts(
    tansu, plant_model, model_registry, caplog, monkeypatch
) -> None:
    # What the read-back takes out: the daemon as it was, knowing no standstill before its position.
    monkeypatch.setattr(warmupread, "read_back", lambda *a, **k: ReadBack())
    events, state, cold = _resume(tansu, plant_model, model_registry, caplog)
    opened = [e for e in events if e["state"] == "open"]
    assert [e["asset_id"] for e in opened] == [cold]
    assert opened[0]["top_sensors"][0]["sensor"] == "bearing_rise_pu"
    assert state[0] != WARMING_UP and state[1] == 0


# -- the read itself -----------------------------------------------------------------------------------
def _dated(bs: str, topic: str, n: int, base_ms: int) -> None:
    """``n`` records on partition 0 of ``topic``, the i-th dated ``base_ms + 1000 i`` (Kafka time)."""
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=5)
    for i in range(n):
        producer.send(topic, value=str(i).encode(), partition=0, timestamp_ms=base_ms + 1000 * i)
    producer.flush(timeout=30)
    producer.close(timeout=5)


@pytest.fixture
def read_dated(tansu, model_registry, monkeypatch):  # noqa: ANN001, ANN201
    """A reader of the 100 records of :func:`_dated` (on a fresh topic) back from offset 80, in chunks
    of 7, 14, 28 ... records."""
    settings = make_settings(tansu.bootstrap_servers, model_registry)
    _dated(tansu.bootstrap_servers, settings.kafka.topics.input, 100, int(time.time() * 1000) - 200_000)
    monkeypatch.setattr(warmupread, "FIRST_CHUNK", 7)
    tp = TopicPartition(settings.kafka.topics.input, 0)

    def read(lookback_s: float, on_records, **options) -> ReadBack:  # noqa: ANN001, ANN003
        return read_back(
            settings.kafka,
            tansu.bootstrap_servers,
            {tp: 80},
            lookback_s=lookback_s,
            timeout_s=20.0,
            on_records=on_records,
            **options,
        )

    return read


def test_the_read_goes_back_lookback_s_from_the_newest_record_before_the_position(read_dated) -> None:
    chunks: list[list[int]] = []
    done = read_dated(30.0, lambda recs: chunks.append([r.offset for r in recs]))
    # Offset 79 is the newest before the position; 30 s before it lies offset 49. Each chunk comes in
    # offset order, a poll's records at a time.
    handed = [offset for chunk in chunks for offset in chunk]
    assert handed == list(range(73, 80)) + list(range(59, 73)) + list(range(49, 59))
    assert all(chunk == sorted(chunk) for chunk in chunks)
    assert done.whole == [0] and done.short == [] and done.records == {0: 31}


def test_the_read_ends_at_a_chunk_written_before_the_window(read_dated, monkeypatch) -> None:
    # The embedded broker answers offsets_for_times with a partition's first offset: without this end,
    # every read went back to the partition's first record.
    ranges: list[tuple[int, int]] = []
    read_range = warmupread._read_range
    monkeypatch.setattr(
        warmupread,
        "_read_range",
        lambda c, tp, low, high, *a: ranges.append((low, high)) or read_range(c, tp, low, high, *a),
    )
    handed: list[int] = []
    done = read_dated(10.0, lambda recs: handed.extend(r.offset for r in recs))
    assert sorted(handed) == list(range(69, 80)) and done.whole == [0]
    # At most down to the chunk [31, 59), which holds no record of the window: the read ends there.
    assert min(low for low, _ in ranges) >= 31


def test_a_read_out_of_time_keeps_what_it_read_and_names_the_partition(read_dated) -> None:
    seen: list[int] = []
    # A stop comes once the first chunk was handed on.
    done = read_dated(3600.0, lambda recs: seen.extend(r.offset for r in recs), stopping=lambda: bool(seen))
    assert done.short == [0] and done.whole == [] and done.records == {0: 7}
    assert seen == list(range(73, 80))  # the newest


def test_a_read_back_that_fails_is_counted_and_scoring_goes_on(
    tansu, plant_model, model_registry, caplog, monkeypatch
) -> None:
    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KafkaTimeoutError("the broker did not answer")

    monkeypatch.setattr(warmupread, "read_back", fail)
    events, state, cold = _resume(tansu, plant_model, model_registry, caplog)
    assert [e["asset_id"] for e in events if e["state"] == "open"] == [cold]  # as without the read
    assert state[1] == 1
    (warned,) = [r.getMessage() for r in caplog.records if "cannot read back" in r.getMessage()]
    assert "judged warm" in warned and "the broker did not answer" in warned


def test_a_new_group_reads_nothing_back_and_learns_the_stop_as_it_scores(
    tansu, plant_model, model_registry, caplog
) -> None:
    events, state, _cold = _resume(tansu, plant_model, model_registry, caplog, commit=False)
    assert [e for e in events if e["state"] == "open"] == []
    assert state == (WARMING_UP, 0)
    assert not [r for r in caplog.records if "read back" in r.getMessage()]


def test_a_read_back_cut_short_names_its_partitions_in_a_warning(plant_model, monkeypatch, caplog) -> None:
    settings = Settings()
    metrics = PipelineMetrics(CollectorRegistry())
    topic = settings.kafka.topics.input
    daemon = SimpleNamespace(
        kafka=settings.kafka,
        processor=BatchProcessor(settings, plant_model, "v1", metrics),
        consumer=SimpleNamespace(committed=lambda tp, timeout_ms: 100),
        bootstrap_servers="k:9092",
        _stop=SimpleNamespace(is_set=lambda: False),
        metrics=metrics,
    )
    monkeypatch.setattr(
        warmupread, "read_back", lambda *a, **k: ReadBack(records={0: 100, 1: 40}, whole=[0], short=[1])
    )
    caplog.set_level(logging.INFO, logger="pipeline.warmupread")
    partitions = {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    assert warmupread.take_up(daemon, partitions, time.monotonic() + 10, floor_ms=100)
    said = [r.getMessage() for r in caplog.records]
    assert "partitions [0, 1]: 140 records of their last 3600 s read back from sensor-readings" in said[0]
    assert "partitions [1]: read back only in part" in said[1] and "judged warm" in said[1]
    # Out of time before it began: not tried, said, and counted as a failed read.
    assert warmupread.take_up(daemon, partitions, time.monotonic(), floor_ms=100)
    assert "cannot read back" in caplog.records[-1].getMessage()
    assert metrics.broker_failures.labels("carry_over")._value.get() == 1
