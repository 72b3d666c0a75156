"""Crashes: ``kill -9`` of a real ``python -m pipeline run`` child at random points of a live stream.

Five times the daemon is killed without warning while records keep arriving, and started again. Every
produced record must end up scored (on the scores topic) or dead-lettered, none skipped; records are
handled at least once, so a crash may repeat what was processed but not yet committed: at most one
batch per crash.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from pipeline_kafka import (
    committed,
    daemon_env,
    make_settings,
    normal_rows,
    produce,
    read_topic,
    reading,
    wait_for,
)

pytestmark = pytest.mark.integration

CRASHES = 5
BATCH = 100


def _start(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _positions(msgs: list) -> list[tuple[int, int]]:
    return [(orjson.loads(m.value)["partition"], orjson.loads(m.value)["offset"]) for m in msgs]


def test_kill_9_five_times_mid_stream_skips_nothing_and_repeats_at_most_a_batch_per_crash(
    tansu, model_registry, tmp_path
) -> None:
    bs = tansu.bootstrap_servers
    settings = make_settings(bs, model_registry, scores=True, kafka={"batch_size": BATCH})
    topics = settings.kafka.topics
    env = daemon_env(settings, METRICS__ENABLED="false")
    rng = np.random.default_rng(31)
    chooser = random.Random(31)
    stop = threading.Event()
    sent: list[tuple[int, int]] = []
    garbage: set[int] = set()

    def keep_producing() -> None:
        i = 0
        while not stop.is_set():
            items = []
            for j, row in enumerate(normal_rows(rng, 50)):
                n = i + j
                if n % 37 == 0:  # a little poison, so the DLQ side of the count is exercised too
                    garbage.add(len(sent) + j)
                    items.append((b"c", b"\x00not json %d" % n))
                else:
                    items.append((f"c-{n % 10}".encode(), reading(f"c-{n % 10}", 1_790_000_000 + n, row)))
            sent.extend(produce(bs, topics.input, items))
            i += 50
            stop.wait(0.1)

    producer = threading.Thread(target=keep_producing, daemon=True)
    producer.start()
    proc = _start(env, tmp_path)
    try:
        for crash in range(CRASHES):
            seen = sum(committed(bs, settings.kafka.group_id, topics.input).values())
            wait_for(
                lambda seen=seen: sum(committed(bs, settings.kafka.group_id, topics.input).values()) > seen,
                60,
                f"progress before crash {crash + 1}",
            )
            stop.wait(chooser.uniform(0.0, 1.0))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
            proc = _start(env, tmp_path)
        # The last daemon must be up and consuming before production stops, so that everything being
        # committed means it committed too (and the SIGTERM below finds it running, not starting).
        seen = sum(committed(bs, settings.kafka.group_id, topics.input).values())
        wait_for(
            lambda: sum(committed(bs, settings.kafka.group_id, topics.input).values()) > seen,
            60,
            "progress after the last restart",
        )
        stop.set()
        producer.join(timeout=30)
        high: dict[int, int] = {}
        for p, o in sent:
            high[p] = max(high.get(p, 0), o + 1)

        def all_committed() -> bool:
            now = committed(bs, settings.kafka.group_id, topics.input)
            return all(now.get(p, 0) >= h for p, h in high.items())

        wait_for(all_committed, 90, "everything committed")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)

    produced = set(sent)
    bad = {sent[i] for i in garbage}
    # Duplicates fill the first len(produced) messages early: keep reading a while past that count.
    scored_msgs = read_topic(bs, topics.scores, count=len(produced) - len(bad), timeout_s=40, idle_s=5)
    scored = Counter(_positions(scored_msgs))
    dlq = read_topic(bs, topics.dlq_topic, count=len(bad), timeout_s=40, idle_s=5)
    dead = Counter(
        (int(dict(m.headers)["dlq.source.partition"]), int(dict(m.headers)["dlq.source.offset"])) for m in dlq
    )
    # None skipped: every produced record was scored or dead-lettered, and each by the right path.
    assert set(scored) | set(dead) == produced
    assert set(dead) == bad and not set(scored) & bad
    # At least once, and repeated work bounded by what one uncommitted batch per crash can hold.
    duplicates = sum(scored.values()) + sum(dead.values()) - len(produced)
    assert 0 <= duplicates <= CRASHES * BATCH, f"{duplicates} duplicates after {CRASHES} crashes"
