"""``dhag-pipeline bench readback``: what a daemon taking partitions up afresh reads back, and how fast.

A daemon that starts, or takes a partition over, reads the input topic's last ``alerts.warmup_s`` back
for the machines that stood still in it (:mod:`pipeline.warmupread`), in the time the carry-over leaves
before its first poll. This bench puts the plant of ``bench starts`` (its machines stop and start; one
reading per asset every 10 s, written with its reading time as Kafka time, as a gateway writes it) on
a fresh embedded broker, trains its plant model as ``bench starts`` does, and reads back as a daemon
resuming at the end of the stream would:

* ``window``: the last ``alerts.warmup_s`` as the daemon reads it: the records read, the seconds, and
  the machines it finds stood still in it (a running one is then warming up) against the simulator's
  stops (a machine stopped at some time within ``warmup_s`` before the end).
* ``whole_topic``: every record of the topic, twice: only read from Kafka (``on_records`` doing
  nothing), then read and noted as the daemon notes them (parsed, derived, standstill found): records
  per second of each, and how many records the daemon's default time for it (half of
  ``kafka.max_poll_interval_ms``, shared with the carry-over read) reads back at that rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer, TopicPartition

from pipeline.batchlimit import POLL_BUDGET_SHARE
from pipeline.benchio import emit
from pipeline.broker import EmbeddedBroker
from pipeline.config import Settings
from pipeline.hotswap import bind_model
from pipeline.startsbench import EPOCH, _batches, _train, starts_scenario
from pipeline.topics import ensure_topics
from pipeline.warmup import WarmUp
from pipeline.warmupread import ReadingNotes, read_back

__all__ = ["run_readback_bench"]

log = logging.getLogger(__name__)

PARTITIONS = 3


def _produce(bs: str, topic: str, batches: list[tuple[float, list[Any]]]) -> dict[int, int]:
    """Every record of ``batches`` to ``topic``, keyed by asset and dated with its Kafka time; each
    partition's end (its last record's offset + 1, as the acknowledgements say: the embedded broker's
    end offsets can fall short of it)."""
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=20, batch_size=256 * 1024)
    futures = []
    try:
        for _, records in batches:
            for rec in records:
                futures.append(producer.send(topic, key=rec.key, value=rec.value, timestamp_ms=rec.timestamp))
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)
    ends: dict[int, int] = {}
    for future in futures:
        meta = future.get(timeout=0)
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return ends


def _timed_read(
    settings: Settings,
    bs: str,
    ends: dict[TopicPartition, int],
    lookback_s: float,
    note: Callable,
    then: Callable[[], Any] = lambda: None,
) -> dict[str, Any]:
    """:func:`~pipeline.warmupread.read_back` of ``ends`` with ``note``, then ``then()``, timed."""
    started = time.perf_counter()
    done = read_back(settings.kafka, bs, ends, lookback_s=lookback_s, timeout_s=600.0, on_records=note)
    then()
    seconds = time.perf_counter() - started
    records = sum(done.records.values())
    return {
        "records": records,
        "seconds": round(seconds, 2),
        "records_per_second": round(records / seconds) if seconds > 0 else None,
        "partitions_read_whole": done.whole,
    }


def run_readback_bench(
    settings: Settings,
    *,
    seed: int = 0,
    assets: int = 24,
    history_hours: float = 24.0,
    minutes: float = 1440.0,
    out: Path | None = None,
    **train_overrides: Any,
) -> int:
    """Train, produce, read back (see the module); print the JSON summary (also to ``out``). 0 on
    success, 1 when training was refused. ``train_overrides``: the tests' few epochs."""
    import torch

    torch.set_num_threads(max(1, settings.model.torch_threads))
    started = time.perf_counter()
    history, stream, _faults, plan = starts_scenario(
        seed=seed, assets=assets, history_hours=history_hours, hours=minutes / 60.0
    )
    model, training = _train(history, seed, plan["standby"], **train_overrides)
    summary: dict[str, Any] = {
        "settings": {"seed": seed, "assets": assets, "history_hours": history_hours, "minutes": minutes},
        "warmup_s": settings.alerts.warmup_s,
        "training": training,
    }
    if model is None:
        emit(summary, out)
        return 1
    active = bind_model(model, "bench", settings.records)
    end = float(stream["t"].max())
    warmup_s = settings.alerts.warmup_s
    # The truth: the machines stopped at some time within warmup_s before the end (standing still at
    # the end, or started since).
    stood = sorted(
        asset
        for asset, stops in plan["stream"].items()
        if any(begin <= end and stop_end >= end - warmup_s for begin, stop_end in stops)
    )
    topic = settings.kafka.topics.input
    with EmbeddedBroker() as broker:
        bs = broker.bootstrap_servers
        ensure_topics(bs, {topic: PARTITIONS}, create_missing=True, replication_factor=1)
        batches = _batches(stream, topic)
        ends = {TopicPartition(topic, p): end for p, end in _produce(bs, topic, batches).items()}
        produced = sum(len(records) for _, records in batches)
        so_far = time.perf_counter() - started
        log.info("readback bench: %d records produced (%.0f s so far)", produced, so_far)

        warm, kept = WarmUp(warmup_s, settings.alerts.warmup_after_silence_s), ReadingNotes(active)
        window = _timed_read(settings, bs, ends, warmup_s, kept.add, then=lambda: kept.note(warm))
        found = sorted(a for a in set(stream["asset_id"]) if warm.warming(a, EPOCH + end))
        window |= {"stood_still_found": found, "stood_still_truth": stood}

        span_s = end + 3600.0  # every record
        read_only = _timed_read(settings, bs, ends, span_s, lambda recs: None)
        every, all_kept = WarmUp(span_s, settings.alerts.warmup_after_silence_s), ReadingNotes(active)
        noted = _timed_read(settings, bs, ends, span_s, all_kept.add, then=lambda: all_kept.note(every))
    budget_s = POLL_BUDGET_SHARE * settings.kafka.max_poll_interval_ms / 1000
    rate = noted["records_per_second"] or 0
    summary |= {
        "records_produced": produced,
        "window": window,
        "whole_topic": {
            "read_only": read_only,
            "read_and_noted": noted,
            "budget_s": budget_s,
            "records_in_budget": int(rate * budget_s),
            "assets_in_budget_one_reading_a_second": int(rate * budget_s / warmup_s) if warmup_s else None,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(summary, out)
    return 0
