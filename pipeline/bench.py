"""``dhag-pipeline bench``: throughput and latency of the daemon on the embedded broker, in one run.

1. The ceiling: a bare kafka-python consumer reads the pre-produced topic as fast as it can.
2. The daemon (a child process, as in production) scores and commits the same topic: records per
   second between its first and its last commit, read from the group's committed offsets.
3. Latency: records produced at a fixed rate for a fixed time (with injected faults, so alerts open),
   the daemon publishing scores; produce-to-scored is the scores message's ``scored_at`` minus the
   record's ``ts`` (the time it was produced); produce-to-alert is the alert message's broker
   timestamp (set when the daemon sends it) minus the opening record's ``ts``. Peak RSS is the daemon's
   ``VmHWM``. All processes share the machine: the numbers include that contention.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.benchio import emit
from pipeline.broker import EmbeddedBroker
from pipeline.config import Settings, child_environment
from pipeline.procs import stop_process
from pipeline.topics import ensure_topics

__all__ = ["run_bench"]

log = logging.getLogger(__name__)

N_SENSORS = 16
N_ASSETS = 64
SHORT_OF_RATE = 0.9  # a latency run that offered less than this share of --rate is said to fall short
# A daemon that keeps up scores the last record offered within a batch or two of its arrival; one whose
# last scores came later than this after the load stopped had a backlog, and its latencies are its waits.
BEHIND_S = 2.0
SENSORS = [f"s{i:02d}" for i in range(N_SENSORS)]
_MIXING = np.random.default_rng(0).normal(size=(4, N_SENSORS))


def _rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """Normal plant rows: 16 sensors driven by 4 shared factors plus noise."""
    return rng.normal(size=(n, 4)) @ _MIXING + 0.3 * rng.normal(size=(n, N_SENSORS))


def _train(registry: Path) -> None:
    from dhag import DHAG
    from pipeline.registry import publish

    model = DHAG(max_epochs=20, time_budget=10.0, batch_size=256, feature_names=SENSORS, random_state=0)
    publish(registry, model.fit(_rows(np.random.default_rng(1), 4000)), "bench")


def _record(asset: str, ts: float, row: np.ndarray) -> bytes:
    return orjson.dumps(
        {"asset_id": asset, "ts": ts, "values": dict(zip(SENSORS, row.tolist(), strict=True))}
    )


def _produce_all(bootstrap: str, topic: str, n: int) -> None:
    rng = np.random.default_rng(2)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, acks=1)
    now = time.time()
    for start in range(0, n, 10_000):
        rows = _rows(rng, min(10_000, n - start))
        for i, row in enumerate(rows):
            asset = f"asset-{(start + i) % N_ASSETS:03d}"
            producer.send(topic, key=asset.encode(), value=_record(asset, now, row))
    producer.flush(timeout=300)
    producer.close(timeout=10)


def _rate(first: tuple[float, int], last: tuple[float, int]) -> float | None:
    """Records per second between two ``(time, records so far)`` points: those that came after the
    first batch (or commit), over the time they took. None when the first already held every record:
    one poll's microseconds (or nothing at all) measure no rate.

    >>> _rate((10.0, 5000), (12.0, 25000))
    10000.0
    >>> _rate((10.0, 3000), (10.2, 3000)) is None
    True
    """
    records, seconds = last[1] - first[1], last[0] - first[0]
    return records / seconds if records > 0 and seconds > 0 else None


def _raw_consume_rps(bootstrap: str, topic: str, n: int, settings: Settings) -> float | None:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=settings.kafka.batch_size,
        fetch_max_bytes=settings.kafka.fetch_max_bytes,
        max_partition_fetch_bytes=settings.kafka.max_partition_fetch_bytes,
    )
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        consumer.seek_to_beginning()
        seen, first = 0, None
        deadline = time.monotonic() + 600
        while seen < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=settings.kafka.batch_size)
            seen += sum(len(v) for v in batch.values())
            if seen and first is None:
                first = (time.perf_counter(), seen)
        if first is None or seen < n:
            raise RuntimeError(f"the bare consumer read {seen} of {n} records in 600 s")
        return _rate(first, (time.perf_counter(), seen))
    finally:
        consumer.close()


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close()


def _start_daemon(
    bootstrap: str, registry: Path, topic: str, group: str, scores: str | None
) -> subprocess.Popen:
    overrides = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA__GROUP_ID": group,
        "KAFKA__TOPICS__INPUT": topic,
        "KAFKA__TOPICS__ALERTS": f"{topic}-alerts",
        "KAFKA__TOPICS__SCORES": scores or "null",
        "KAFKA__SESSION_TIMEOUT_MS": "6000",  # a broker's default floor: no start-up warning
        "KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "MODEL__REGISTRY": str(registry),
        "METRICS__ENABLED": "false",
        "LOGGING__LEVEL": "WARNING",
    }
    env = child_environment(overrides)
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run"], env=env, stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> float:
    """SIGTERM the daemon; returns its peak RSS in MB."""
    try:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_mb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        rss_mb = float("nan")
    stop_process(proc, 30)
    return rss_mb


def _pipeline_rps(bootstrap: str, registry: Path, topic: str, n: int) -> tuple[float | None, float]:
    group = f"bench-{topic}"
    proc = _start_daemon(bootstrap, registry, topic, group, None)
    try:
        deadline = time.monotonic() + 600
        first: tuple[float, int] | None = None
        done = 0
        while done < n and time.monotonic() < deadline and proc.poll() is None:
            done = _committed(bootstrap, group, topic)
            seen = (time.perf_counter(), done)
            if done and first is None:
                first = seen
            time.sleep(0.05)
        if first is None or done < n:
            exited = "" if proc.poll() is None else f" (it exited with {proc.returncode})"
            raise RuntimeError(f"the daemon committed {done} of {n} records{exited}")
        rps = _rate(first, seen)
    finally:
        rss = _stop(proc)
    return rps, rss


def _offer_load(bootstrap: str, topic: str, rate: int, duration: float) -> tuple[int, float]:
    """Produce at ``rate`` records/s for ``duration`` s; every 5 s one asset gets 6 faulty readings.
    Returns the records sent and the seconds they took: on a loaded machine the producer falls short of
    ``rate``."""
    rng = np.random.default_rng(3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, acks=1)
    tick = 0.02
    per_tick = max(1, round(rate * tick))
    sent, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < duration:
        rows = _rows(rng, per_tick)
        fault_asset = f"asset-{int(elapsed // 5) % N_ASSETS:03d}"
        faulty = (elapsed % 5) < 0.5
        for row in rows:
            asset = f"asset-{sent % N_ASSETS:03d}"
            if faulty and asset == fault_asset:
                row = row + 12.0
            producer.send(topic, key=asset.encode(), value=_record(asset, time.time(), row))
            sent += 1
        producer.flush(timeout=30)
        pause = start + (sent / rate) - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    seconds = time.perf_counter() - start
    producer.close(timeout=10)
    return sent, seconds


def _source(message: Any) -> tuple[int, int]:
    """The input position (partition, offset) of the record a scores message is of."""
    event = orjson.loads(message.value)
    return event["partition"], event["offset"]


def _read_all(
    bootstrap: str,
    topic: str,
    count: int | None = None,
    timeout_s: float = 120,
    key: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """``topic``'s messages from its beginning: ``count`` of them (fewer when none come for 5 s), or with
    no ``count`` every one it holds now, read to the end of each partition (a poll that returns some
    may hold one partition's, or part of them). With ``key``, ``count`` counts the messages of distinct
    keys: a record scored twice is one record scored, and the read goes on to the rest."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts) if count is None else {}
        left = {tp: end for tp, end in ends.items() if end > 0}
        out: list[Any] = []
        keys: set[Any] = set()
        deadline, idle = time.monotonic() + timeout_s, 0
        while (
            (left if count is None else len(keys if key else out) < count)
            and time.monotonic() < deadline
            and idle < 20
        ):
            batch = consumer.poll(timeout_ms=250)
            idle = 0 if batch else idle + 1
            for tp, msgs in batch.items():
                out.extend(msgs)
                keys.update(map(key, msgs) if key else ())
                if msgs and tp in left and msgs[-1].offset + 1 >= left[tp]:
                    del left[tp]
        return out
    finally:
        consumer.close()


def _latency(bootstrap: str, registry: Path, topic: str, rate: int, duration: float) -> dict[str, Any]:
    scores_topic = f"{topic}-scores"
    proc = _start_daemon(bootstrap, registry, topic, f"bench-{topic}", scores_topic)
    try:
        # Warm up: wait until the daemon has joined its group and scores.
        warm, _ = _offer_load(bootstrap, topic, 100, 1.0)
        deadline = time.monotonic() + 120
        while not _read_all(bootstrap, scores_topic, 1, timeout_s=1):
            if proc.poll() is not None:
                raise RuntimeError(f"the latency run's daemon exited with {proc.returncode} before it scored")
            if time.monotonic() >= deadline:
                raise RuntimeError("the latency run's daemon scored no record in 120 s")
            time.sleep(0.2)
        # The warm-up's records waited for the daemon to join its group: only those offered from here
        # on (their ts is when they were produced) are measured.
        started = time.time()
        sent, seconds = _offer_load(bootstrap, topic, rate, duration)
        stopped = time.time()
        scores = _read_all(bootstrap, scores_topic, warm + sent, key=_source)
        if proc.poll() is not None:
            raise RuntimeError(
                f"the latency run's daemon exited with {proc.returncode} while it was measured"
            )
    finally:
        rss = _stop(proc)
    alerts = [
        orjson.loads(m.value) | {"_sent_ms": m.timestamp}
        for m in _read_all(bootstrap, f"{topic}-alerts", timeout_s=30)
    ]
    # Each record's first score: a batch redone after a rebalance scores its records again.
    first: dict[tuple[int, int], dict[str, Any]] = {}
    for event in (orjson.loads(m.value) for m in scores):
        first.setdefault((event["partition"], event["offset"]), event)
    measured = [m for m in first.values() if m["ts"] >= started]
    score_ms = np.array([1000 * (m["scored_at"] - m["ts"]) for m in measured])
    last = max((m["scored_at"] for m in measured), default=None)
    alert_ms = np.array(
        [a["_sent_ms"] - 1000 * a["ts"] for a in alerts if a["state"] == "open" and a["ts"] >= started]
    )

    def pct(a: np.ndarray) -> dict[str, float | None]:
        if a.size == 0:
            return {"p50": None, "p99": None}
        return {"p50": round(float(np.percentile(a, 50)), 1), "p99": round(float(np.percentile(a, 99)), 1)}

    return {
        "offered_rps": rate,
        "achieved_rps": round(sent / seconds),
        "sent": sent,
        "scored": int(score_ms.size),
        "duplicates": len(scores) - len(first),
        # how long after the load stopped the last record offered was scored: the backlog left
        "behind_s": None if last is None else round(max(0.0, last - stopped), 1),
        "produce_to_scored_ms": pct(score_ms),
        "produce_to_alert_ms": pct(alert_ms),
        "alerts_opened": int(alert_ms.size),
        "rss_mb": rss,
    }


def run_bench(settings: Settings, *, records: int, rate: int, duration: float, out: Path | None) -> int:
    """Run the three measurements on a fresh embedded broker; print (and write) the JSON summary."""
    if settings.model.torch_threads:
        import torch

        torch.set_num_threads(settings.model.torch_threads)
    partitions = settings.kafka.topics.partitions
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        bs, registry = broker.bootstrap_servers, Path(tmp) / "registry"
        _train(registry)
        for name in ("bench-tput", "bench-lat"):
            topics = [name, f"{name}-alerts", f"{name}.dlq", f"{name}-scores"]
            ensure_topics(bs, dict.fromkeys(topics, partitions), create_missing=True, replication_factor=1)
        log.warning("producing %d records to %d partitions", records, partitions)
        _produce_all(bs, "bench-tput", records)
        try:
            log.warning("measuring the bare consumer")
            raw = _raw_consume_rps(bs, "bench-tput", records, settings)
            log.warning("measuring the daemon")
            rps, rss_tput = _pipeline_rps(bs, registry, "bench-tput", records)
            log.warning("measuring latency at %d records/s for %.0f s", rate, duration)
            latency = _latency(bs, registry, "bench-lat", rate, duration)
        except RuntimeError as exc:
            log.error("bench failed: %s; no summary", exc)
            return 1
    if raw is None or rps is None:
        log.warning(
            "--records %d measured no throughput (null): %s took all of them in its first batch "
            "(kafka.batch_size %d); give --records many times that, as the default 200,000 does",
            records,
            " and ".join(
                who for who, rate in (("the bare consumer", raw), ("the daemon", rps)) if rate is None
            ),
            settings.kafka.batch_size,
        )
    if (achieved := latency["achieved_rps"]) < SHORT_OF_RATE * rate:
        log.warning(
            "the latency run offered %d records/s, short of --rate %d: the producer could not keep up on "
            "this machine, so its latency figures are those of %d records/s; give a lower --rate, or run "
            "where fewer processes share the CPUs",
            achieved,
            rate,
            achieved,
        )
    if (behind := latency.get("behind_s")) is not None and behind > BEHIND_S:
        log.warning(
            "the latency run's daemon fell behind the load: it scored the last record offered %.1f s after "
            "the producer stopped, so its latency figures are the waits of a growing backlog, not its own "
            "latency at %d records/s; give a lower --rate, or run where fewer processes share the CPUs",
            behind,
            latency["achieved_rps"],
        )
    if (scored := latency["scored"]) < latency["sent"]:
        log.warning(
            "the latency run's daemon scored %d of the %d records offered in the wait for them: its latency "
            "figures leave out the rest, the slowest",
            scored,
            latency["sent"],
        )
    result = {
        "records": records,
        "partitions": partitions,
        "sensors": N_SENSORS,
        "raw_consume_rps": None if raw is None else round(raw),
        "pipeline_rps": None if rps is None else round(rps),
        "ratio": None if raw is None or rps is None else round(rps / raw, 3),
        "latency_ms": latency["produce_to_scored_ms"],
        "alert_latency_ms": latency["produce_to_alert_ms"],
        "latency_run": {k: v for k, v in latency.items() if k != "rss_mb"},
        "rss_mb": round(max(rss_tput, latency["rss_mb"]), 1),
        "cpus": os.cpu_count(),
    }
    emit(result, out)
    return 0
