"""How long ``dhag-pipeline label`` takes to find its alert on a big alerts topic.

    PYTHONPATH=. python3 docs/bench/label-lookup.py [--events 200000] [--labels 100000] [--days 7]

Run from the repository's root. It starts the embedded broker (as the integration tests do), writes
``--events`` alert events (an open and a resolved event per episode, 600 assets keyed as the daemon
keys them, three partitions) and ``--labels`` labels by id, their Kafka times spread evenly over the
last ``--days`` days (as a topic that retains that many days holds them), then times ``label`` as an
operator runs it (a new process each, ``python -m pipeline label ... --bootstrap``) on the newest
alert, on one opened 30 hours ago, on the oldest, and on an id that is not on the topic (a typo).
Prints one line a case: its seconds, the CPU seconds of its process (steadier than the seconds on a
busy host) and its exit code, then the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import yaml
from kafka import KafkaProducer

from pipeline.broker import EmbeddedBroker
from pipeline.topics import ensure_topics

ASSETS = 600
DAY = 86400.0


def _event(alert_id: str, asset: str, state: str, opened: float, ts: float) -> bytes:
    """An alert event about as large as the daemon's (five top sensors, the opening reading)."""
    sensors = [f"sensor_{k}" for k in range(5)]
    return orjson.dumps(
        {
            "schema": 1,
            "alert_id": alert_id,
            "asset_id": asset,
            "state": state,
            "opened_at": opened,
            "ts": ts,
            "score": 0.91 if state == "open" else 0.2,
            "threshold": 0.5,
            "model_version": "v3",
            "top_sensors": [{"sensor": s, "value": 1.5, "mean": 1.0} for s in sensors],
            "values": {s: 1.5 for s in sensors},
        }
    )


def _fill(bootstrap: str, names: dict[str, str], events: int, labels: int, days: float) -> list[str]:
    """Write the topics; the alert ids, oldest first."""
    now = time.time()
    episodes = events // 2
    step = days * DAY / max(episodes, 1)
    ids = [uuid.UUID(int=i).hex[-20:] for i in range(episodes)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, batch_size=256 * 1024)
    try:
        for i, alert_id in enumerate(ids):
            asset = f"pump-{i % ASSETS:03d}"
            opened = now - days * DAY + i * step
            for state, at in (("open", opened), ("resolved", opened + step / 2)):
                value = _event(alert_id, asset, state, opened, at)
                producer.send(names["alerts"], value, key=asset.encode(), timestamp_ms=int(at * 1000))
            if i * labels // max(episodes, 1) != (i + 1) * labels // max(episodes, 1):
                given = opened + step / 3
                label = {"schema": 1, "alert_id": alert_id, "label": "normal", "operator": "kim", "ts": given}
                producer.send(
                    names["labels"],
                    orjson.dumps(label),
                    key=alert_id.encode(),
                    timestamp_ms=int(given * 1000),
                )
        producer.flush(timeout=600)
    finally:
        producer.close(timeout=10)
    return ids


def _children_cpu() -> float:
    """The CPU seconds (user and system) of this process's children that ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=7.0)
    args = parser.parse_args()
    names = {"alerts": f"alerts-{uuid.uuid4().hex[:8]}", "labels": f"labels-{uuid.uuid4().hex[:8]}"}
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as folder:
        bootstrap = broker.bootstrap_servers
        ensure_topics(bootstrap, dict.fromkeys(names.values(), 3), create_missing=True, replication_factor=1)
        started = time.monotonic()
        ids = _fill(bootstrap, names, args.events, args.labels, args.days)
        print(
            f"wrote {args.events} alert events and {args.labels} labels in {time.monotonic() - started:.0f} s"
        )
        config = Path(folder) / "config.yaml"
        config.write_text(yaml.safe_dump({"kafka": {"topics": names}}))
        back = round(len(ids) * (1 - 30 * 3600 / (args.days * DAY)))
        cases = {"newest": ids[-1], "30 hours old": ids[back], "oldest": ids[0], "unknown": "f" * 20}
        env = os.environ | {"PYTHONPATH": str(Path.cwd())}
        figures = {}
        for case, alert_id in cases.items():
            command = [sys.executable, "-m", "pipeline", "label", alert_id, "--normal", "--operator", "bench"]
            command += ["--config", str(config), "--bootstrap", bootstrap]
            started, used = time.monotonic(), _children_cpu()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            seconds, cpu = time.monotonic() - started, _children_cpu() - used
            figures[case] = {
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "exit": done.returncode,
            }
            said = done.stderr.strip()[:100]
            print(f"{case:>14}: {seconds:6.2f} s ({cpu:5.2f} s of CPU), exit {done.returncode}  {said}")
        print(json.dumps({"events": args.events, "labels": args.labels, "days": args.days, "label": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
