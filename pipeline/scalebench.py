"""``dhag-pipeline bench scale``: throughput of 1..N daemons in one consumer group on a 6-partition topic.

Each run starts ``N`` child ``python -m pipeline run`` processes (as in production) on a fresh embedded
broker against a topic filled beforehand, and times the records committed from the moment every daemon
holds partitions. The JSON summary lists each run's records/s and the speedup over one daemon.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline.bench import _rate, _train
from pipeline.benchio import emit
from pipeline.broker import EmbeddedBroker, die_with_parent, free_port
from pipeline.config import Settings, child_environment
from pipeline.metrics import scrape
from pipeline.procs import stop_process
from pipeline.topics import ensure_topics

__all__ = ["run_scale_bench"]

log = logging.getLogger(__name__)


def _assigned(port: int) -> float:
    samples = scrape(port) or []
    return next((s.value for s in samples if s.name == "dhag_assigned_partitions"), 0.0)


def _scale_run(
    bs: str, registry: Path, topic: str, records: int, replicas: int, work: Path
) -> dict[str, Any]:
    """``replicas`` daemons in one group on a pre-filled topic: records/s once every one has partitions."""
    from pipeline.bench import _committed

    group = f"{topic}-group"
    ports = [free_port() for _ in range(replicas)]
    procs = []
    env_topic = {"KAFKA__TOPICS__INPUT": topic, "KAFKA__GROUP_ID": group}
    for i, port in enumerate(ports):
        overrides = env_topic | {
            "KAFKA__BOOTSTRAP_SERVERS": bs,
            "KAFKA__TOPICS__ALERTS": f"{topic}-alerts",
            "KAFKA__SESSION_TIMEOUT_MS": "6000",  # a broker's default floor: no start-up warning
            "KAFKA__HEARTBEAT_INTERVAL_MS": "500",
            "MODEL__REGISTRY": str(registry),
            "METRICS__HOST": "127.0.0.1",
            "METRICS__PORT": str(port),
            "LOGGING__LEVEL": "WARNING",
        }
        env = child_environment(overrides)
        with (work / f"{topic}-{i}.log").open("wb") as sink:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "pipeline", "run"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stderr=sink,
                    preexec_fn=die_with_parent if sys.platform == "linux" else None,
                )
            )
    try:
        deadline = time.monotonic() + 600
        start: tuple[float, int] | None = None
        done, read_at = 0, 0.0
        while done < records and time.monotonic() < deadline:
            if (i := next((i for i, p in enumerate(procs) if p.poll() is not None), None)) is not None:
                # its log is in ``work``, which goes with the run: its last lines go in the error
                tail = (work / f"{topic}-{i}.log").read_text(errors="replace").splitlines()[-5:]
                said = f"daemon {i + 1} of {replicas} exited with {procs[i].returncode}; its log ends:"
                raise RuntimeError("\n".join([said, *tail]))
            # Timed when the commits are read: the pause below, in which the daemons may have finished
            # long before, is not counted into the run.
            done, read_at = _committed(bs, group, topic), time.perf_counter()
            if start is None and all(_assigned(port) >= 1 for port in ports):
                start = (read_at, done)
            if done < records:
                time.sleep(0.1)
        if done < records:
            raise RuntimeError(f"{replicas} daemon(s) committed {done} of {records} records")
        # Every record committed before every daemon held partitions: the first ones scored them all.
        start = start or (read_at, done)
        elapsed = read_at - start[0]
        rate = _rate(start, (read_at, records))
        if rate is None:
            log.warning(
                "scale: %d daemon(s) had committed all %d records before every one held partitions: "
                "no rate measured (null); give --records many times kafka.batch_size",
                replicas,
                records,
            )
        return {
            "replicas": replicas,
            "records_after_all_assigned": records - start[1],
            "seconds": round(elapsed, 2),
            "rps": None if rate is None else round(rate),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            stop_process(p, 30)


def run_scale_bench(settings: Settings, *, records: int, replicas: int, out: Path | None) -> int:
    """Throughput of 1..``replicas`` daemons in one consumer group on a 6-partition topic.

    Each run gets its own topic, filled before the daemons start; the rate counts the records committed
    from the moment every daemon holds partitions to the last one (so the group's join is not timed).
    """
    from pipeline.bench import _produce_all

    if records <= 0 or not 1 <= replicas <= 6:
        sys.stderr.write("bench scale: --records must be positive and --replicas between 1 and 6\n")
        return 2
    runs = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        work, bs = Path(tmp), broker.bootstrap_servers
        registry = work / "registry"
        _train(registry)
        for k in range(1, replicas + 1):
            topic = f"scale-{k}"
            ensure_topics(
                bs,
                {topic: 6, f"{topic}-alerts": 6, f"{topic}.dlq": 6},
                create_missing=True,
                replication_factor=1,
            )
            _produce_all(bs, topic, records)
            try:
                runs.append(_scale_run(bs, registry, topic, records, k, work))
            except RuntimeError as exc:
                log.error("bench scale failed: %s", exc)
                return 1
            log.warning("scale %s", json.dumps(runs[-1]))
    base = runs[0]["rps"]
    result = {
        "records": records,
        "partitions": 6,
        "runs": runs,
        # Against one daemon's rate; null where either run measured none.
        "speedup": [None if not base or r["rps"] is None else round(r["rps"] / base, 2) for r in runs],
        "cpus": os.cpu_count(),
    }
    emit(result, out)
    return 0
