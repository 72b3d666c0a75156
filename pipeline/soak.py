"""``dhag-pipeline bench soak``: the daemon under steady load for minutes, with faults and model changes.

A child ``python -m pipeline run`` (as in production) scores a stream offered at a fixed rate on a fresh
embedded broker. The stream carries sensor faults (one asset at a time drifts far off, so alerts open
and resolve), a share of poison records of every kind (dead-lettered), operator label records on
``operator-labels`` (DESIGN.md's label contract) and two model promotions through the registry while it
runs. Every ``--interval`` seconds (default a minute) it samples the daemon's resident memory, open file
descriptors, threads and CPU time from ``/proc``, the produce-to-scored latency (p50/p99 of the scores
that arrived in that interval) and the counts so far. At the end it waits until every produced record
is accounted for and reports ``produced``, the distinct records scored and dead-lettered, ``lost``
(produced but neither) and the duplicates (at-least-once repeats).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from kafka import KafkaProducer

from pipeline.bench import N_ASSETS, SHORT_OF_RATE, _record, _rows, _train
from pipeline.benchio import emit
from pipeline.broker import EmbeddedBroker, die_with_parent, free_port
from pipeline.config import Settings, child_environment
from pipeline.metrics import scrape
from pipeline.procs import stop_process
from pipeline.soakledger import Ledger, LedgerCollector
from pipeline.topics import ensure_topics

__all__ = ["SoakOptions", "rss_growth", "run_soak"]

log = logging.getLogger(__name__)

TOPIC = "soak"
LABELS_TOPIC = "operator-labels"
# One record in this many is poison; the kinds rotate so every DLQ reason of the contract appears.
POISON_EVERY = 200
_POISON = (
    b"\x00\xffnot json",
    b"[1, 2, 3]",
    b'{"asset_id": "asset-000", "values": {}}',
    b'{"asset_id": "asset-000", "ts": 1790000000, "values": {"s00": "high"}}',
    b'{"asset_id": "asset-000", "ts": 1790000000, "values": {"s00": 1.0}}',
    b'{"asset_id": "asset-000", "ts": 1790000000, "values": {"s00": NaN}}',
    b'{"asset_id": "bad id!", "ts": 1790000000, "values": {"s00": 1.0}}',
    b'{"asset_id": "asset-000", "ts": "yesterday", "values": {"s00": 1.0}}',
    b'{"schema": 2, "asset_id": "asset-000", "ts": 1790000000, "values": {"s00": 1.0}}',
    b'{"asset_id": "asset-000", "ts": 1790000000, "note": "' + b"x" * 70_000 + b'"}',
)
# The stream is offered in ticks of this many seconds, one producer batch per partition per tick. The
# embedded broker's memory storage spends time on every fetch in proportion to the batches it holds
# (the samples' broker_cpu_s shows it), so small batches would make a long soak measure the broker's
# slowdown, not the daemon's.
TICK_S = 0.2


@dataclass(frozen=True)
class SoakOptions:
    """What to run: minutes, offered records per second, seconds between samples, where to write JSON."""

    minutes: float = 30.0
    rate: int = 5000
    interval_s: float = 60.0
    out: Path | None = None


def _proc_sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "cpu_s": round((int(stat[11]) + int(stat[12])) / ticks, 1),
    }


def _metrics(port: int) -> dict[str, Any]:
    """The daemon's model version, broker state and refused commits, from its metrics endpoint."""
    samples = scrape(port, timeout_s=5.0)
    if samples is None:
        return {}
    out: dict[str, Any] = {}
    for s in samples:
        if s.name == "dhag_model_info" and s.value == 1:
            out["model_version"] = s.labels["version"]
        elif s.name in ("dhag_broker_connected", "dhag_dlq_paused", "dhag_poll_max_records"):
            out[s.name.removeprefix("dhag_")] = s.value
        elif s.name == "dhag_offset_commits_total" and s.labels.get("result") == "refused":
            out["commits_refused"] = s.value
        elif s.name == "dhag_broker_failures_total":
            out.setdefault("broker_failures", {})[s.labels["operation"]] = s.value
    return out


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None}
    ms = 1000 * np.asarray(values)
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def _publish_variants(registry: Path) -> list[str]:
    """Two more versions of the trained model (thresholds nudged) to promote while the soak runs."""
    from pipeline.registry import load_version, publish

    versions = []
    for i, factor in enumerate((1.02, 0.98), start=2):
        model = load_version(registry, "bench")
        model.threshold_ = float(min(1.0, model.threshold_ * factor))
        versions.append(publish(registry, model, f"soak-{i}", make_current=False))
    return versions


def _start_daemon(
    bootstrap: str, registry: Path, metrics_port: int, partitions: int, log_path: Path
) -> subprocess.Popen:
    overrides = {
        "KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA__GROUP_ID": "soak",
        "KAFKA__TOPICS__INPUT": TOPIC,
        "KAFKA__TOPICS__ALERTS": f"{TOPIC}-alerts",
        "KAFKA__TOPICS__SCORES": f"{TOPIC}-scores",
        "KAFKA__TOPICS__PARTITIONS": str(partitions),
        "KAFKA__MAX_POLL_INTERVAL_MS": "10000",
        "KAFKA__SESSION_TIMEOUT_MS": "6000",
        "KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
        "MODEL__REGISTRY": str(registry),
        "MODEL__RELOAD_CHECK_S": "1.0",
        "METRICS__HOST": "127.0.0.1",
        "METRICS__PORT": str(metrics_port),
        "LOGGING__LEVEL": "WARNING",
    }
    env = child_environment(overrides)
    with log_path.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run"],
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=sink,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )


def _label(asset: str, row: np.ndarray, label: str) -> bytes:
    values = dict(zip([f"s{i:02d}" for i in range(row.size)], row.tolist(), strict=True))
    return orjson.dumps(
        {"asset_id": asset, "ts": time.time(), "values": values, "label": label, "operator": "soak-bench"}
    )


def _soak(
    bs: str, registry: Path, opts: SoakOptions, partitions: int, work: Path, broker_pid: int | None
) -> dict[str, Any]:
    from pipeline.registry import promote

    variants = _publish_variants(registry)
    names = [TOPIC, f"{TOPIC}-alerts", f"{TOPIC}.dlq", f"{TOPIC}-scores", LABELS_TOPIC]
    ensure_topics(bs, dict.fromkeys(names, partitions), create_missing=True, replication_factor=1)
    port = free_port()
    daemon_log = work / "daemon.log"
    proc = _start_daemon(bs, registry, port, partitions, daemon_log)
    seen = Ledger()
    collector = LedgerCollector(bs, f"{TOPIC}-scores", f"{TOPIC}.dlq", seen)
    collector.start()
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=50, acks=1, batch_size=1 << 20)
    failed_sends: list[BaseException] = []
    rng = np.random.default_rng(7)
    duration = 60.0 * opts.minutes
    promote_at = [duration / 3, 2 * duration / 3]
    promotions: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    sent = poison = labels = 0
    try:
        # Warm-up: the daemon joins its group and scores a first record before the clock starts.
        deadline = time.monotonic() + 120
        while seen.counts()[1] == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start scoring")
            value = _record("asset-000", time.time(), _rows(rng, 1)[0])
            producer.send(TOPIC, key=b"asset-000", value=value).add_callback(seen.acknowledged)
            producer.flush(10)
            sent += 1
            time.sleep(0.5)
        with seen.lock:
            seen.latencies.clear()
        sent_before = sent
        start = time.perf_counter()
        next_sample = opts.interval_s
        per_tick = max(1, round(opts.rate * TICK_S))
        while (elapsed := time.perf_counter() - start) < duration:
            rows = _rows(rng, per_tick)
            fault_asset = f"asset-{int(elapsed // 10) % N_ASSETS:03d}"
            faulty = (elapsed % 10) < 1.0
            for row in rows:
                asset = f"asset-{sent % N_ASSETS:03d}"
                if sent % POISON_EVERY == POISON_EVERY - 1:
                    value = _POISON[poison % len(_POISON)]
                    poison += 1
                else:
                    if faulty and asset == fault_asset:
                        row = row + 12.0
                    value = _record(asset, time.time(), row)
                future = producer.send(TOPIC, key=asset.encode(), value=value)
                future.add_callback(seen.acknowledged).add_errback(failed_sends.append)
                sent += 1
            if int(elapsed / 5.0) >= labels:  # an operator label every 5 s, alternating verdicts
                label = "anomaly" if labels % 2 else "normal"
                producer.send(LABELS_TOPIC, key=b"asset-001", value=_label("asset-001", rows[0], label))
                labels += 1
            if promote_at and elapsed >= promote_at[0]:
                promote_at.pop(0)
                version = variants[len(promotions)]
                promote(registry, version)
                promotions.append({"version": version, "at_s": round(elapsed, 1)})
            if elapsed >= next_sample:
                samples.append(_sample(proc.pid, broker_pid, port, seen, elapsed, sent))
                next_sample += opts.interval_s
            pause = start + (sent - sent_before) / opts.rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited with {proc.returncode}")
        producer.flush(60)
        offered_s = time.perf_counter() - start
        # Drain: wait while the backlog still shrinks (a minute without progress, or 20 minutes, ends it).
        drain_started = time.monotonic()
        best, best_at = seen.counts()[3], time.monotonic()
        while best and time.monotonic() - best_at < 60 and time.monotonic() - drain_started < 1200:
            time.sleep(1.0)
            missing = seen.counts()[3]
            if missing < best:
                best, best_at = missing, time.monotonic()
        drain_s = time.monotonic() - drain_started
        samples.append(_sample(proc.pid, broker_pid, port, seen, time.perf_counter() - start, sent))
        final_metrics = _metrics(port)
    finally:
        producer.close(timeout=10)
        collector.stop.set()
        collector.join(timeout=30)
        stop_process(proc, 30)
    produced, scored, dead, lost = seen.counts()
    growth, warm_t_s = rss_growth(samples)
    log_lines = daemon_log.read_text(errors="replace").splitlines()
    return {
        "minutes": opts.minutes,
        "offered_rate": opts.rate,
        "achieved_rate": round((sent - sent_before) / offered_s),
        "produced": produced,
        "poison_sent": poison,
        "labels_sent": labels,
        "failed_sends": len(failed_sends),
        "scored": scored,
        "dead_lettered": dead,
        "lost": lost,
        "duplicates": seen.duplicates,
        "drain_s": round(drain_s, 1),
        "accounted": produced == scored + dead and lost == 0,
        "promotions": promotions,
        "final_model_version": final_metrics.get("model_version"),
        "commits_refused": final_metrics.get("commits_refused", 0.0),
        "broker_failures": final_metrics.get("broker_failures", {}),
        "rss_growth_after_warmup_pct": growth,
        "warmup_sample_t_s": warm_t_s,
        "fds": [s["fds"] for s in samples],
        "threads": [s["threads"] for s in samples],
        "p99_ms": [s["p99_ms"] for s in samples],
        "daemon_exit_code": proc.returncode,
        "daemon_log_lines": len(log_lines),
        "daemon_log_tail": log_lines[-5:],
        "samples": samples,
        "cpus": os.cpu_count(),
    }


def rss_growth(samples: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """The daemon's RSS growth, in percent, from the warm-up sample (the first after a minute, else the
    first) to the last, and the warm-up sample's time; ``(None, None)`` from one sample, which measures
    none.

    >>> rss_growth([{"t_s": 30, "rss_mb": 380.0}, {"t_s": 60, "rss_mb": 400.0}, {"t_s": 90, "rss_mb": 404.0}])
    (1.0, 60)
    """
    *before, last = samples
    if not before:
        log.warning(
            "soak: its one sample measures no memory growth (null); give an --interval shorter than "
            "the run's --minutes, so that samples come before the last"
        )
        return None, None
    warm = next((s for s in before if s["t_s"] >= 60.0), before[0])
    return round(100 * (last["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"], 2), warm["t_s"]


def _sample(
    pid: int, broker_pid: int | None, port: int, seen: Ledger, elapsed: float, sent: int
) -> dict[str, Any]:
    with seen.lock:
        latencies, seen.latencies = seen.latencies, []
    _produced, scored, dead, _ = seen.counts()
    row: dict[str, Any] = {
        "t_s": round(elapsed, 1),
        "produced": sent,
        "scored": scored,
        "dead_lettered": dead,
    }
    row |= _proc_sample(pid) | _pct(latencies) | {"scores_in_interval": len(latencies)}
    row["loadavg_1m"] = round(os.getloadavg()[0], 2)  # the whole machine: other work shows up here
    if broker_pid is not None:  # the embedded broker's own growth (its fetches slow as topics grow)
        broker = _proc_sample(broker_pid)
        row |= {"broker_rss_mb": broker["rss_mb"], "broker_cpu_s": broker["cpu_s"]}
    row |= {
        k: v
        for k, v in _metrics(port).items()
        if k in ("model_version", "broker_connected", "poll_max_records")
    }
    log.warning("soak %s", json.dumps(row))
    return row


def run_soak(settings: Settings, opts: SoakOptions) -> int:
    """Run the soak on a fresh embedded broker; print (and write) the JSON summary; 0 if nothing was lost,
    the daemon stopped cleanly and it ended on the last model promoted, else 1 (``failures`` says why)."""
    if opts.minutes <= 0 or opts.rate <= 0 or opts.interval_s <= 0:
        sys.stderr.write("bench soak: --minutes, --rate and --interval must be positive\n")
        return 2
    if settings.model.torch_threads:
        import torch

        torch.set_num_threads(settings.model.torch_threads)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        work = Path(tmp)
        registry = work / "registry"
        _train(registry)
        try:
            result = _soak(
                broker.bootstrap_servers, registry, opts, settings.kafka.topics.partitions, work, broker.pid
            )
        except RuntimeError as exc:  # the daemon's log goes with ``work``: its last lines are said now
            log_path = work / "daemon.log"
            tail = log_path.read_text(errors="replace").splitlines()[-5:] if log_path.exists() else []
            log.error("soak failed: %s; the daemon's log ends:\n%s", exc, "\n".join(tail))
            return 1
    if result["achieved_rate"] < SHORT_OF_RATE * opts.rate:
        log.warning(
            "soak: it offered %d records/s, short of --rate %d: the producer could not keep up on this "
            "machine, so its figures are those of %d records/s; give a lower --rate",
            result["achieved_rate"],
            opts.rate,
            result["achieved_rate"],
        )
    result["failures"] = failures = _failures(result)
    emit(result, opts.out)
    for failure in failures:
        log.error("soak failed: %s", failure)
    return 1 if failures else 0


def _failures(result: dict[str, Any]) -> list[str]:
    """What went wrong in a soak: records not accounted for, a daemon that stopped with an error, or one
    that did not end on the last model promoted."""
    failures = []
    if not result["accounted"]:
        failures.append(f"not every record was accounted for ({result.get('lost')} lost)")
    if result["daemon_exit_code"] != 0:
        failures.append(f"the daemon exited with {result['daemon_exit_code']}")
    if result["promotions"] and result["final_model_version"] != (
        last := result["promotions"][-1]["version"]
    ):
        failures.append(
            f"the daemon ended on model {result['final_model_version']}, not {last}, the last promoted"
        )
    return failures
